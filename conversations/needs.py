"""What a new chat needs from the agent who takes it: skills and a priority.

Skills come from four places: the pre-chat topic, the site (every chat there), the page the
visitor is on (PageRule: the URL contains a text), and the visitor's browser language (a skill
with that language code). The priority is the highest of the matching page rules, or the one
asked for.
"""

from agents.models import Skill
from conversations.models import Site, Topic


def language_matches(skill_language: str, visitor_language: str) -> bool:
    """"lt" matches "lt" and "lt-LT"; "zh" matches "zh-CN"; case does not matter."""
    skill_language, visitor_language = skill_language.lower(), visitor_language.lower()
    return visitor_language == skill_language or visitor_language.startswith(skill_language + "-")


def chat_needs(*, site: Site, topic: Topic | None, page_url: str, language: str, priority: int = 0) -> tuple[set[int], int]:
    """(skill ids, priority) for a chat starting now; four queries whatever the number of rules."""
    skill_ids = set(site.required_skills.values_list("id", flat=True))
    if topic is not None:
        skill_ids |= set(topic.skills.values_list("id", flat=True))
    matching_rules = [rule for rule in site.page_rules.prefetch_related("skills") if rule.url_contains in page_url]
    for rule in matching_rules:
        skill_ids |= {skill.pk for skill in rule.skills.all()}
        priority = max(priority, rule.priority)
    if language:
        skill_ids |= {pk for pk, code in Skill.objects.exclude(language="").values_list("id", "language")
                      if language_matches(code, language)}
    return skill_ids, priority
