"""The snapshots package's dependency alias: the container's call-path snapshot store."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from lettering.core.deps import provided
from lettering.snapshots.callpath import CallPathStore
from lettering.snapshots.service import SnapshotStore

SnapshotsDep = Annotated[CallPathStore, Depends(provided(SnapshotStore))]
