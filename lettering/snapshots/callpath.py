"""The call path's snapshot set: one frozen object, typed, swapped atomically by the store.

The webhook authenticates against `pbx`; `decide()` reads `directory`, `optout` and `campaigns`
through `decision_inputs`. Each part is rebuilt by its package's builder when its source
version moves (lettering/snapshots/service.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaigns import service as campaign_service
from campaigns.selection import CampaignSnapshot
from lettering.core.phone import PhoneVault
from lettering.decision.service import DecisionInputs
from lettering.directory import service as directory_service
from lettering.directory.service import DirectorySnapshot
from lettering.optout import service as optout_service
from lettering.optout.service import OptoutIndex
from lettering.snapshots.service import Builder, SnapshotStore
from lettering.webhook import auth as webhook_auth
from lettering.webhook.auth import PbxRegistry


@dataclass(frozen=True, slots=True)
class CallPathSnapshots:
    directory: DirectorySnapshot
    optout: OptoutIndex
    pbx: PbxRegistry
    campaigns: CampaignSnapshot

    @property
    def decision_inputs(self) -> DecisionInputs:
        return DecisionInputs(directory=self.directory, optout=self.optout, campaigns=self.campaigns)

    @classmethod
    def assemble(cls, parts: Mapping[str, object]) -> CallPathSnapshots:
        """The set from the store's parts by name; a part of the wrong type is a bug, said here."""
        directory = parts[directory_service.SNAPSHOT_NAME]
        optout = parts[optout_service.SNAPSHOT_NAME]
        pbx = parts[webhook_auth.SNAPSHOT_NAME]
        campaigns = parts[campaign_service.SNAPSHOT_NAME]
        if not isinstance(directory, DirectorySnapshot):
            raise TypeError(f"the directory snapshot is a {type(directory).__name__}")
        if not isinstance(optout, OptoutIndex):
            raise TypeError(f"the opt-out snapshot is a {type(optout).__name__}")
        if not isinstance(pbx, PbxRegistry):
            raise TypeError(f"the PBX snapshot is a {type(pbx).__name__}")
        if not isinstance(campaigns, CampaignSnapshot):
            raise TypeError(f"the campaign snapshot is a {type(campaigns).__name__}")
        return cls(directory=directory, optout=optout, pbx=pbx, campaigns=campaigns)


CallPathStore = SnapshotStore[CallPathSnapshots]


def builders(vault: PhoneVault, public_base_url: str) -> dict[str, Builder]:
    return {
        directory_service.SNAPSHOT_NAME: directory_service.build_directory_snapshot,
        optout_service.SNAPSHOT_NAME: optout_service.build_optout_index,
        webhook_auth.SNAPSHOT_NAME: webhook_auth.make_registry_builder(vault),
        campaign_service.SNAPSHOT_NAME: campaign_service.make_snapshot_builder(public_base_url),
    }


def call_path_store(
    sessions: async_sessionmaker[AsyncSession], vault: PhoneVault, public_base_url: str
) -> CallPathStore:
    """The store of the call path's snapshots (load it with `refresh(force=True)`)."""
    return SnapshotStore(sessions, builders(vault, public_base_url), CallPathSnapshots.assemble)
