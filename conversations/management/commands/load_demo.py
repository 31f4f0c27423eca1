"""Demo data: a shop site, skills, agents, canned responses and tags. Safe to run again."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from agents.models import Agent, AgentSkill, CannedResponse, Department, Skill
from conversations.models import Site, Tag, Topic

DEMO_PASSWORD = "demo-pass-123"
SKILLS = {"orders": "Orders", "billing": "Billing", "technical": "Technical support", "lt": "Lithuanian"}
TOPICS = [("Orders and delivery", ["orders"]), ("Billing and refunds", ["billing"]), ("Technical help", ["technical"])]
# username, display name, role, cap, {skill: proficiency}
AGENTS = [
    ("alice", "Alice", Agent.Role.AGENT, 4, {"orders": 5, "billing": 3, "lt": 5}),
    ("bob", "Bob", Agent.Role.AGENT, 3, {"orders": 3, "technical": 5}),
    ("carol", "Carol", Agent.Role.AGENT, 2, {"billing": 5, "orders": 2}),
    ("sam", "Sam (supervisor)", Agent.Role.SUPERVISOR, 3, {"orders": 4, "billing": 4, "technical": 4}),
]
CANNED = [
    ("hello", "Greeting", "Hi {{visitor.name}}, I'm {{agent.name}} from {{site.name}}. How can I help?"),
    ("order", "Order number", "Could you tell me your order number? It starts with SH-."),
    ("refund", "Refund time", "Refunds reach your card within 5 business days."),
    ("bye", "Goodbye", "Thanks for chatting with {{site.name}}, {{visitor.name}}. Have a good day!"),
]
TAGS = ["order-status", "refund", "bug", "feedback", "sales"]


class Command(BaseCommand):
    help = "Load (or refresh) the demo site, agents, canned responses and tags."

    def add_arguments(self, parser):
        parser.add_argument("--origin", action="append", default=[],
                            help="An origin allowed to embed the demo widget (repeatable).")

    def handle(self, *args, origin, **options):
        department, _ = Department.objects.get_or_create(name="Support")
        site, _ = Site.objects.update_or_create(key="demo", defaults={
            "name": "Demo Shop", "team_email": "team@demo-shop.test",
            "allowed_origins": sorted(set(origin) | {"http://localhost:8000", "http://127.0.0.1:8000"}),
        })
        skills = {slug: Skill.objects.update_or_create(slug=slug, defaults={"name": name})[0]
                  for slug, name in SKILLS.items()}
        for position, (label, needed) in enumerate(TOPICS):
            topic, _ = Topic.objects.update_or_create(
                site=site, label=label, defaults={"position": position, "department": department}
            )
            topic.skills.set(skills[s] for s in needed)
        users = get_user_model().objects
        admin = users.filter(username="admin").first() or users.create_superuser("admin", "admin@demo-shop.test",
                                                                              DEMO_PASSWORD)
        # The console needs an agent profile, admins included (docs/protocol.md): a supervisor in no department.
        Agent.objects.update_or_create(user=admin, defaults={"display_name": "Admin", "role": Agent.Role.SUPERVISOR})
        for username, display_name, role, cap, proficiency in AGENTS:
            user = users.filter(username=username).first() or users.create_user(username, password=DEMO_PASSWORD)
            agent, _ = Agent.objects.update_or_create(user=user, defaults={
                "display_name": display_name, "role": role, "max_concurrent_chats": cap,
            })
            agent.departments.add(department)
            for slug, level in proficiency.items():
                AgentSkill.objects.update_or_create(agent=agent, skill=skills[slug], defaults={"proficiency": level})
        for shortcut, title, text in CANNED:
            CannedResponse.objects.update_or_create(owner=None, shortcut=shortcut, defaults={"title": title, "text": text})
        for name in TAGS:
            Tag.objects.get_or_create(site=site, name=name)
        self.stdout.write(self.style.SUCCESS(
            f"Demo data ready: site key 'demo'; logins admin, {', '.join(a[0] for a in AGENTS)} "
            f"(password {DEMO_PASSWORD}); superuser {admin.username}."
        ))
