"""SIP2 codec and client benchmark.

1. Encode + decode a realistic mix of answers a kiosk reads (64 patron
   information with a list of 5-20 loans, 12 checkout, 10 checkin, 98 ACS
   status), 1,600 distinct frames (different cards, items, names and times),
   with our codec and with pysip2's codec on the same frames in the same run.
   Target: 3x pysip2 or faster.
2. The client's added latency: the median round trip of
   ``Sip2Client.item_information()`` minus the median round trip of a raw
   asyncio loopback socket sending the same request bytes to the same
   server.  Target: under 100 microseconds.

Prints medians and ratios, then one JSON line per metric.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pysip2  # noqa: E402
from pysip2 import decode_message, encode_message  # noqa: E402

from kiosk.sip2 import (  # noqa: E402
    AcsStatus,
    CheckinResponse,
    CheckoutResponse,
    ClientSettings,
    ItemInformationRequest,
    ItemInformationResponse,
    PatronInformationResponse,
    PatronStatus,
    Sip2Client,
    Sip2Codec,
)

UTC = timezone.utc
ROUNDS = 7
PER_TYPE = 400
FIRST_NAMES = ["Jan", "Marie", "Pieter", "Ann", "Lotte", "Wout", "Élise", "Zoë", "Noah", "Louis"]
LAST_NAMES = ["Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters"]


def corpus() -> list[bytes]:
    rng = random.Random(2024)
    codec = Sip2Codec(tz=UTC)
    start = datetime(2024, 1, 15, 9, 0, 0, tzinfo=UTC)
    frames = []
    for i in range(PER_TYPE):
        now = start + timedelta(seconds=37 * i)
        due = now + timedelta(days=21)
        card = f"2000{rng.randrange(10**6):06d}"
        loans = tuple(f"3000{rng.randrange(10**6):06d}" for _ in range(rng.randint(5, 20)))
        name = f"{rng.choice(LAST_NAMES)}, {rng.choice(FIRST_NAMES)}"
        item = loans[0]
        frames.append(codec.encode(PatronInformationResponse(
            patron_status=PatronStatus(too_many_items_overdue=rng.random() < 0.1), language=5, transaction_date=now,
            hold_items_count=rng.randrange(3), overdue_items_count=0, charged_items_count=len(loans),
            fine_items_count=0, recall_items_count=0, unavailable_holds_count=0, institution_id="BIB",
            patron_identifier=card, personal_name=name, hold_items_limit=20, overdue_items_limit=10,
            charged_items_limit=40, valid_patron=True, valid_patron_password=True, currency_type="EUR",
            fee_amount=f"{rng.randrange(500) / 100:.2f}", fee_limit="5.00", charged_items=loans,
            screen_message=("Welkom",),
        ), i % 10))  # fmt: skip
        frames.append(codec.encode(CheckoutResponse(
            ok=True, renewal_ok=False, magnetic_media=False, desensitize=True, transaction_date=now,
            institution_id="BIB", patron_identifier=card, item_identifier=item,
            title_identifier=f"Title of book {i}", due_date=f"{due:%Y%m%d}    235900", media_type="001",
            screen_message=("Uitgeleend",),
        ), i % 10))  # fmt: skip
        frames.append(codec.encode(CheckinResponse(
            ok=True, resensitize=True, magnetic_media=False, alert=False, transaction_date=now,
            institution_id="BIB", item_identifier=item, permanent_location="MAIN",
            title_identifier=f"Title of book {i}", sort_bin=f"A{i % 9}", patron_identifier=card,
        ), i % 10))  # fmt: skip
        frames.append(codec.encode(AcsStatus(
            online_status=True, checkin_ok=True, checkout_ok=True, acs_renewal_policy=True, status_update_ok=False,
            offline_ok=False, timeout_period=30, retries_allowed=3, date_time_sync=now, institution_id="BIB",
            library_name="Bibliotheek", supported_messages="YYYYYYYYYYYYYYYY", terminal_location=f"KIOSK{i % 7}",
        ), i % 10))  # fmt: skip
    return frames


def bench_ours(frames: list[bytes]) -> float:
    codec = Sip2Codec(tz=UTC)
    decode, encode = codec.decode, codec.encode
    t0 = time.perf_counter()
    for frame in frames:
        msg = decode(frame)
        encode(msg, codec.last_sequence)
    return time.perf_counter() - t0


def bench_pysip2(frames: list[bytes]) -> float:
    t0 = time.perf_counter()
    for frame in frames:
        decoded = decode_message(frame)
        encode_message(decoded.message, sequence_number=decoded.sequence_number, checksum=True)
    return time.perf_counter() - t0


def codec_benchmark() -> tuple[float, float]:
    frames = corpus()
    # Both codecs read every frame, and ours writes each one back byte for byte.
    codec = Sip2Codec(tz=UTC)
    for frame in frames:
        assert codec.encode(codec.decode(frame), codec.last_sequence) == frame
        decoded = decode_message(frame)
        assert encode_message(decoded.message, sequence_number=decoded.sequence_number, checksum=True) == frame
    ours, theirs = [], []
    gc.collect()
    for _ in range(ROUNDS):
        ours.append(len(frames) / bench_ours(frames))
        theirs.append(len(frames) / bench_pysip2(frames))
    return statistics.median(ours), statistics.median(theirs)


# -- client latency ------------------------------------------------------------


class CannedAcs(asyncio.Protocol):
    """Answers every CR-terminated frame with a canned 18, echoing AY."""

    answers: list[bytes] = []

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        while (cr := self.buffer.find(b"\r")) >= 0:
            frame, self.buffer = self.buffer[: cr + 1], self.buffer[cr + 1 :]
            seq = frame[-8] - 0x30 if len(frame) > 9 and frame[-10:-8] == b"AY" else 0
            self.transport.write(self.answers[seq])


async def latency_benchmark(n: int = 4000) -> tuple[float, float]:
    codec = Sip2Codec(tz=UTC)
    answer = ItemInformationResponse(
        circulation_status=3, security_marker=2, fee_type=1, item_identifier="3000123456",
        title_identifier="De Avonden", permanent_location="MAIN",
    )  # fmt: skip
    CannedAcs.answers = [codec.encode(answer, seq) for seq in range(10)]
    loop = asyncio.get_running_loop()
    server = await loop.create_server(CannedAcs, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    request = codec.encode(ItemInformationRequest(institution_id="BIB", item_identifier="3000123456"), 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    settings = ClientSettings(port=port, institution="BIB", keepalive_seconds=None, status_on_connect=False, timeout=5)
    client = Sip2Client(settings)
    await client.connect()

    raw_times, client_times = [], []
    for _ in range(200):  # warm up
        writer.write(request)
        await reader.readuntil(b"\r")
        await client.item_information("3000123456")
    gc.collect()
    clock = time.perf_counter
    for block in range(n // 100):
        for _ in range(100):
            t0 = clock()
            writer.write(request)
            await reader.readuntil(b"\r")
            raw_times.append(clock() - t0)
        for _ in range(100):
            t0 = clock()
            await client.item_information("3000123456")
            client_times.append(clock() - t0)
    await client.close()
    writer.close()
    server.close()
    await server.wait_closed()
    return statistics.median(raw_times) * 1e6, statistics.median(client_times) * 1e6


def main() -> None:
    ours, theirs = codec_benchmark()
    ratio = ours / theirs
    print(f"codec encode+decode, mix of 64 (5-20 loans)/12/10/98, {PER_TYPE * 4} frames, median of {ROUNDS} rounds:")
    print(f"  ours   {ours:12,.0f} messages/s")
    print(f"  pysip2 {theirs:12,.0f} messages/s   (pysip2 {pysip2.__version__})")
    print(f"  ratio  {ratio:.2f}x  (target >= 3x)")
    raw, full = asyncio.run(latency_benchmark())
    added = full - raw
    print("client round trip on loopback, 17 -> 18, median of 4,000:")
    print(f"  raw asyncio socket {raw:8.1f} us")
    print(f"  Sip2Client         {full:8.1f} us")
    print(f"  added latency      {added:8.1f} us  (target < 100 us)")
    print(json.dumps({"bench": "sip2_codec", "metric": "encode_decode_messages_per_second", "value": round(ours),
                      "unit": "messages/s", "peer": f"pysip2 {pysip2.__version__} codec: {theirs:.0f} messages/s",
                      "ratio": round(ratio, 2)}))  # fmt: skip
    print(json.dumps({"bench": "sip2_codec", "metric": "client_added_latency_median", "value": round(added, 1),
                      "unit": "us", "peer": f"raw asyncio loopback round trip: {raw:.1f} us",
                      "ratio": round(full / raw, 2)}))  # fmt: skip


if __name__ == "__main__":
    main()
