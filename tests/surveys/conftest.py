"""Survey fixtures (imports inside them: this file loads before Django is set up)."""

import pytest


@pytest.fixture
def acme():
    from tests.personas import make_site

    return make_site()


@pytest.fixture
def ann(acme):
    from tests.personas import make_visitor

    visitor = make_visitor(acme)
    visitor.email = "ann@example.com"
    visitor.save(update_fields=["email"])
    return visitor


@pytest.fixture
def alice():
    from tests.personas import make_agent

    return make_agent("alice", skills={"orders": 5})


@pytest.fixture
def closed_chat(acme, ann, alice):
    from tests.surveys.chats import finished_chat

    return finished_chat(acme, ann, alice)
