"""Item lines: RFID pad and scanner events, sets, security bits (shared by borrow and return)."""

from __future__ import annotations

import logging
from typing import Any

from devices.base import Tag, TagsChanged, missing_parts
from devices.errors import DeviceError

from .model import ItemLine, K, LineKind, LineStatus, State
from .port import LibrarySystemError
from .session import Session

log = logging.getLogger("kiosk.flows")

S = State


class ItemsFlow:
    """Item lines: RFID pad and scanner events, sets, security bits (shared by borrow and return).  A part of :class:`~kiosk.flows.engine.KioskFlows`."""

    async def _process_waiting(self, kind: LineKind) -> None:
        scans, self._pending_scans = self._pending_scans, []
        if self.hub.configured("item_reader") and self._role_ok("item_reader"):
            try:
                tags = await self.hub.inventory()
                self._pad = {t.uid: t for t in tags}
            except DeviceError as exc:
                log.warning("inventory failed: %s", exc)
        await self._process_pad(kind)
        for data in scans:
            await self._item(kind, data, self._uids_for(data))

    def _uids_for(self, item_id: str) -> list[str]:
        sess = self.session
        seen = sess.seen_uids if sess else set()
        return [t.uid for t in self._pad.values() if t.item_id == item_id and t.uid not in seen]

    async def _on_scan(self, data: str) -> None:
        if not data:
            return
        s = self.state
        if s is S.BORROW:
            await self._item(LineKind.BORROW, data, self._uids_for(data))
        elif s is S.RETURN:
            await self._item(LineKind.RETURN, data, self._uids_for(data))
        elif s in (S.MENU, S.ACCOUNT, S.RENEW):
            self._pending_scans.append(data)
            await self._ui_borrow(None)
        elif s is S.IDLE:
            if len(self._pending_scans) < 50:
                self._pending_scans.append(data)
            self.view.hint = K("kiosk.idle.items_waiting")

    async def _on_tags(self, ev: TagsChanged) -> None:
        self._pad = {t.uid: t for t in ev.tags}
        self._stale &= set(self._pad)
        s = self.state
        if s is S.BORROW:
            await self._process_pad(LineKind.BORROW)
        elif s is S.RETURN:
            await self._process_pad(LineKind.RETURN)
        elif s in (S.MENU, S.ACCOUNT, S.RENEW) and self._waiting_items():
            await self._ui_borrow(None)
        elif s is S.IDLE:
            self.view.hint = K("kiosk.idle.items_waiting") if self._waiting_items() else None

    async def _process_pad(self, kind: LineKind) -> None:
        sess = self.session
        if sess is None:
            sess = self.session = Session()
        fresh = [t for t in self._pad.values() if t.uid not in sess.seen_uids and t.uid not in self._stale]
        if not fresh:
            return
        incomplete = missing_parts(self._pad.values())
        groups: dict[str, list[Tag]] = {}
        for tag in sorted(fresh, key=lambda t: (t.item_id, t.part_number, t.uid)):
            if tag.error or not tag.item_id:
                sess.seen_uids.add(tag.uid)
                self._upsert(kind, f"?{tag.uid[-6:]}", LineStatus.REFUSED, text=K("kiosk.item.unreadable"))
                continue
            groups.setdefault(tag.item_id, []).append(tag)
        for item_id, tags in groups.items():
            if item_id in incomplete:
                total = max(t.set_parts for t in tags)
                line = self._upsert(
                    kind, item_id, LineStatus.INCOMPLETE,
                    text=K("kiosk.item.set_incomplete", parts=total, missing=", ".join(map(str, incomplete[item_id]))),
                )
                if not line.title:
                    line.title = await self._title_of(item_id)
                self._signal(False)
                continue
            await self._item(kind, item_id, [t.uid for t in tags])

    async def _title_of(self, item_id: str) -> str:
        """The item's title, for a line the library system was not asked about."""
        if not self._library_up:
            return ""
        try:
            info = await self.library.item_information(item_id)
        except LibrarySystemError:
            return ""
        return info.title or ""

    def _find_line(self, kind: LineKind, item_id: str) -> ItemLine | None:
        sess = self.session
        if sess is None:
            return None
        for line in sess.lines:
            if line.kind is kind and line.item_id == item_id:
                return line
        return None

    def _upsert(self, kind: LineKind, item_id: str, status: LineStatus, **fields: Any) -> ItemLine:
        sess = self.session
        assert sess is not None
        line = self._find_line(kind, item_id)
        if line is None or (line.done and status is LineStatus.WORKING):
            line = ItemLine(kind=kind, item_id=item_id, status=status)
            sess.lines.append(line)
        line.status = status
        for key, value in fields.items():
            setattr(line, key, value)
        return line

    async def _item(self, kind: LineKind, item_id: str, uids: list[str]) -> None:
        sess = self.session
        assert sess is not None
        existing = self._find_line(kind, item_id)
        if existing is not None and existing.done:
            sess.seen_uids.update(uids)
            return
        sess.seen_uids.update(uids)
        if kind is LineKind.BORROW:
            await self._borrow_item(item_id, uids)
        else:
            await self._return_item(item_id, uids)

    async def _set_security(self, uids: list[str], secured: bool, line: ItemLine) -> None:
        for uid in uids:
            try:
                await self.hub.set_security(uid, secured)
            except DeviceError as exc:
                log.error("security bit %s failed: %s", "set" if secured else "clear", exc)
                line.extra = K("kiosk.item.security_failed")

