"""Upload bookkeeping: STS credentials, reserved slots, received bytes, committed URIs.

Callers hold the FakeState lock; nothing here locks on its own.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
import zlib
from dataclasses import dataclass, field

_ALNUM = string.ascii_letters + string.digits


def _rand(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def crc32_hex(data: bytes) -> str:
    return f"{zlib.crc32(data) & 0xFFFFFFFF:08x}"


@dataclass
class StsCredential:
    access_key: str
    secret_key: str
    session_token: str
    session: str
    site: str
    scene: int  # 2: ImageX images, 1: VOD videos
    expires_at: float


@dataclass
class UploadSlot:
    session_key: str
    store_uri: str
    auth: str
    access_key: str
    session: str
    kind: str  # "image" | "video"
    file_size: int | None
    vid: str | None = None
    data: bytes | None = None
    sha256: str | None = None
    crc32: str | None = None
    committed: bool = False
    meta: dict = field(default_factory=dict)

    def public(self) -> dict:
        return {"store_uri": self.store_uri, "session": self.session, "kind": self.kind,
                "declared_size": self.file_size, "size": None if self.data is None else len(self.data),
                "sha256": self.sha256, "crc32": self.crc32, "committed": self.committed,
                "vid": self.vid, **self.meta}


class UploadRegistry:
    def __init__(self):
        self.credentials: dict[str, StsCredential] = {}
        self.slots: dict[str, UploadSlot] = {}        # by SessionKey
        self.by_uri: dict[str, UploadSlot] = {}
        self.by_vid: dict[str, UploadSlot] = {}

    def issue(self, session: str, site: str, scene: int, expires_at: float) -> StsCredential:
        cred = StsCredential(
            access_key="AKTP" + _rand(40),
            secret_key=_rand(44),
            session_token="STS2" + base64.b64encode(secrets.token_bytes(96)).decode(),
            session=session, site=site, scene=scene, expires_at=expires_at,
        )
        self.credentials[cred.access_key] = cred
        return cred

    def reserve(self, cred: StsCredential, kind: str, uri_prefix: str,
                file_size: int | None) -> UploadSlot:
        object_id = secrets.token_hex(16)
        store_uri = f"{uri_prefix}/{object_id}"
        auth_payload = base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")
        slot = UploadSlot(
            session_key=base64.b64encode(secrets.token_bytes(60)).decode(),
            store_uri=store_uri,
            auth=f"SpaceKey/{uri_prefix.rsplit('-', 1)[-1]}/1/:version:v2:{auth_payload}",
            access_key=cred.access_key, session=cred.session, kind=kind, file_size=file_size,
            vid=("v0" + secrets.token_hex(15)) if kind == "video" else None,
        )
        self.slots[slot.session_key] = slot
        self.by_uri[store_uri] = slot
        return slot

    def receive(self, slot: UploadSlot, data: bytes):
        slot.data = data
        slot.sha256 = hashlib.sha256(data).hexdigest()
        slot.crc32 = crc32_hex(data)

    def commit(self, slot: UploadSlot, meta: dict):
        slot.committed = True
        slot.meta = meta
        if slot.vid:
            self.by_vid[slot.vid] = slot

    def committed_image(self, uri: str) -> UploadSlot | None:
        slot = self.by_uri.get(uri)
        return slot if slot is not None and slot.committed and slot.kind == "image" else None

    def committed_video(self, vid: str) -> UploadSlot | None:
        slot = self.by_vid.get(vid)
        return slot if slot is not None and slot.committed else None

    def snapshot(self) -> list[dict]:
        return [slot.public() for slot in self.slots.values()]
