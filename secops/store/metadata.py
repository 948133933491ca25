"""All table modules imported in one place so Alembic and tests see the complete schema."""

from secops.collect import tables as _collect  # noqa: F401
from secops.discover import tables as _discover  # noqa: F401
from secops.inventory import tables as _inventory  # noqa: F401
from secops.remote import tables as _remote  # noqa: F401
from secops.requirements import tables as _requirements  # noqa: F401
from secops.runs import tables as _runs  # noqa: F401
from secops.schedule import tables as _schedule  # noqa: F401
from secops.store import tables as _core  # noqa: F401
from secops.store.base import Base

metadata = Base.metadata
