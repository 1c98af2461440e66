"""Golden frames: the standard's login example and realistic answers."""

from __future__ import annotations

import pytest

from kiosk.sip2 import (
    LoginRequest,
    LoginResponse,
    RemoteSip2Error,
    Sip2ChecksumError,
    Sip2Codec,
    checksum,
)


def test_login_golden_frame():
    codec = Sip2Codec()
    frame = codec.encode(LoginRequest(login_user_id="scclient", login_password="clientpwd", location_code="LOC1"), seq=0)
    assert frame == b"9300CNscclient|COclientpwd|CPLOC1|AY0AZF277\r"
    assert codec.decode(b"941AY0AZFDFD\r") == LoginResponse(ok=True)
    assert codec.last_sequence == 0


def test_checksum_helper():
    assert checksum(b"941AY0AZ") == "FDFD"


def test_bad_checksum_carries_sequence():
    with pytest.raises(Sip2ChecksumError) as info:
        Sip2Codec().decode(b"941AY3AZFDFE\r")
    assert info.value.sequence == 3
    assert isinstance(info.value, RemoteSip2Error)
