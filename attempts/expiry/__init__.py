"""The expiry worker: the domain's background job that times attempts out with no client present.

`worker` runs the rounds; `listener` hears Redis's expired-key events, `sweeper` finds due
deadlines in the database, `restorer` writes back timers Redis lost, `notifications` makes
sure Redis sends the events, and `batches` expires what they found.
"""
