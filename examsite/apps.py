from django.apps import AppConfig


class SiteConfig(AppConfig):
    """The site itself: what every process does once Django is set up."""

    name = "examsite"
    verbose_name = "Exam timer site"

    def ready(self) -> None:
        from examsite.access_log import redact_daphne_access_log

        # daphne writes its access log straight to a stream, not through `logging`, with the
        # full URI of every HTTP request: tokens in query strings are redacted there as well.
        redact_daphne_access_log()
