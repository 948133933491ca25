"""Remote scanners: discover and audit stages run inside each site's network, over Celery + Redis.

central (database, scheduler, reports) --tasks--> Redis queue `secops.site.<CODE>` --> `secops scanner`
                                       <--results (validated payloads)-- result backend <--
"""
