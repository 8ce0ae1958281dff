from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real-time transport"

    def ready(self) -> None:
        from attempts import events
        from realtime.daphne_close_codes import allow_protocol_close_codes
        from realtime.outbox import outbox
        from realtime.shutdown import drain_before_daphne_stops
        from realtime.subscriber import relay

        # The domain announces what happened; the sockets hear of it only through this subscription,
        # by way of the outbox, which a stopping process drains (events.flush).
        events.subscribe(relay, flush=outbox().drain)
        drain_before_daphne_stops()
        # 1009 for frames over 4 KiB and 1008 for a flooding client reach the client under daphne.
        allow_protocol_close_codes()
