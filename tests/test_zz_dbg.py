from werkzeug import Client as WClient
from tests.test_api_fuzz import APPLICATION, SESSION_KEYS, SCHEMAS, support_desk  # noqa

def test_dbg(support_desk):
    from django.contrib.sessions.models import Session
    print("sessions", list(Session.objects.values_list("session_key", flat=True)))
    w = WClient(APPLICATION)
    w.set_cookie("sessionid", SESSION_KEYS["manager"])
    r = w.get("/api/metrics/summary/")
    print("direct", r.status_code, r.get_data()[:100])
    op = SCHEMAS["manager"]["/api/metrics/summary/"]["GET"]
    case = op.Case()
    resp = case.call()
    print("case", resp.status_code, resp.request.headers, case.cookies)
