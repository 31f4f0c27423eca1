from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class ReactionsConfig(AppConfig):
    name = "reactions"
    verbose_name = "Reactions (durable side effects)"

    def ready(self) -> None:
        # Every app's reactions.py registers its handlers (a worker can then run any due row), and its
        # subscribers.py its subscribers (reactions/subscriptions.py).
        autodiscover_modules("reactions", "subscribers")
