"""Named people and places the tests share.

Acme runs a shop site; Ann is a visitor; Alice and Bob are agents (Alice knows orders well,
Bob barely); Olga is an agent who is offline.
"""

from django.contrib.auth import get_user_model

from agents.models import Agent, AgentSkill, Skill
from conversations.models import Site, Topic, Visitor

ACME_ORIGIN = "https://shop.acme.test"
# A widget's `start` frame carries the visitor's first message (docs/protocol.md).
FIRST_MESSAGE = {"client_id": "first", "text": "Hello, I need help"}


def make_site(key: str = "acme", **fields) -> Site:
    defaults = {"name": "Acme", "allowed_origins": [ACME_ORIGIN], "team_email": "team@acme.test"}
    return Site.objects.create(key=key, **{**defaults, **fields})


def make_topic(site: Site, label: str = "Orders", skill_slug: str = "orders") -> Topic:
    topic = Topic.objects.create(site=site, label=label)
    topic.skills.add(Skill.objects.get_or_create(slug=skill_slug, defaults={"name": skill_slug})[0])
    return topic


def make_agent(username: str, *, cap: int = 3, status: str = Agent.Status.ONLINE, skills: dict | None = None,
               role: str = Agent.Role.AGENT) -> Agent:
    user = get_user_model().objects.create_user(username, password="pw-" + username)
    agent = Agent.objects.create(user=user, display_name=username.capitalize(), max_concurrent_chats=cap,
                                 status=status, role=role)
    for slug, level in (skills or {}).items():
        skill = Skill.objects.get_or_create(slug=slug, defaults={"name": slug})[0]
        AgentSkill.objects.create(agent=agent, skill=skill, proficiency=level)
    return agent


def make_visitor(site: Site, name: str = "Ann") -> Visitor:
    return Visitor.objects.create(site=site, name=name)
