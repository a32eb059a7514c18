"""QIDO-RS dates and times in the request's time zone (PS3.18-2019a 8.3.4.1.1).

"If the Timezone Offset From UTC (0008,0201) Attribute is specified in the
request, dates and times in the request are to be interpreted in the specified
time zone."  An instance stored with its own Timezone Offset From UTC has its
dates and times in that zone (PS3.4 C.2.2.2.1.3: its encoding and semantics are
those of the SOP Common Module), so both sides denote moments and a search
compares the moments, not the digits.  Each case stores a one-instance study
under new UIDs whose Study Date, Study Time and Timezone Offset From UTC the test
sets, and searches it with a combined Study Date and Study Time range (matched as
one date-time range, 8.3.4.1.1 and PS3.4 C.2.2.2.5.4) in a given time zone; the
expected answer is the suite's own arithmetic in UTC.

Only combined date-time ranges are searched: Range Matching is "always performed
by meaning" (PS3.4 C.2.2.2.1.3 note 2), while how single values are matched is
implementation dependent, and a date or time alone may change its day when moved
to UTC, which C.2.2.2.5.4 ties to combined date-time matching.  Instances stored
without a time zone are not used: their zone is the server's, which the suite
does not know.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pydicom
import pytest

from dicomweb_conformance.checks.qido import JSON, results_of
from dicomweb_conformance.preconditions import blocked

# The stored study: 03:00 on 1 January 2020 at +0900, i.e. 18:00 UTC on 31 December 2019.
STORED_DATE, STORED_TIME, STORED_TZ = "20200101", "030000", "+0900"

# (query time zone, StudyDate range, StudyTime range)
CASES = [
    ("+0000", "20191231-20191231", "170000-190000"),  # the moment in UTC: a match
    ("+0000", "20200101-20200101", "020000-040000"),  # the stored digits read as UTC: no match
    ("+0900", "20200101-20200101", "020000-040000"),  # the stored zone itself: a match
    ("-0500", "20191231-20191231", "120000-140000"),  # 13:00 at -0500: a match
    ("+0530", "20191231-20191231", "232900-233100"),  # 23:30 at +0530 (an offset with minutes): a match
    ("+0530", "20191231-20191231", "180000-190000"),  # UTC digits read at +0530: no match
]


def _minutes(offset: str) -> int:
    """Minutes east of UTC of an &ZZXX offset (PS3.5 table 6.2-1)."""
    sign = -1 if offset[0] == "-" else 1
    return sign * (int(offset[1:3]) * 60 + int(offset[3:5]))


def utc(date: str, time: str, offset: str) -> datetime:
    """The moment a YYYYMMDD date and an HHMMSS time denote in the time zone ``offset``, in UTC."""
    return datetime.strptime(date + time, "%Y%m%d%H%M%S") - timedelta(minutes=_minutes(offset))


def in_zone_range(tz: str, date_key: str, time_key: str) -> bool:
    """Whether the stored moment falls in the closed date-time range ``date_key`` x ``time_key`` at ``tz``."""
    (d_low, d_high), (t_low, t_high) = date_key.split("-"), time_key.split("-")
    return utc(d_low, t_low, tz) <= utc(STORED_DATE, STORED_TIME, STORED_TZ) <= utc(d_high, t_high, tz)


@pytest.mark.requirement("QIDO-056")
@pytest.mark.mutates
@pytest.mark.parametrize("tz,date_key,time_key", CASES, ids=[f"{z}:{d}&{t}" for z, d, t in CASES])
def test_date_time_range_in_the_request_time_zone(client, fresh_truth, expect, tz, date_key, time_key):
    """8.3.4.1.1: the request's dates and times are in its Timezone Offset From UTC; the stored ones in theirs."""
    fresh = fresh_truth()
    inst = fresh.instance_by_file("vix-sc-rgb-001.dcm")  # the only instance of its study
    ds = pydicom.dcmread(io.BytesIO(fresh.file_bytes(inst["SOPInstanceUID"])))
    ds.StudyDate, ds.StudyTime, ds.TimezoneOffsetFromUTC = STORED_DATE, STORED_TIME, STORED_TZ
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    stored = client.stow([out.getvalue()])
    if stored.status_code != 200:
        blocked("STOW-001", f"storing the instance answered {stored.status_code}, not 200")
    study = inst["StudyInstanceUID"]
    wanted = in_zone_range(tz, date_key, time_key)
    params = {"StudyDate": date_key, "StudyTime": time_key, "TimezoneOffsetFromUTC": tz, "StudyInstanceUID": study}
    response = client.get("studies", params=params, headers={"Accept": JSON})
    results = results_of(response, req="QIDO-056", expect_matches=wanted)
    found = [str(r.get("0020000D", {}).get("Value", [""])[0]) for r in results]
    moment = utc(STORED_DATE, STORED_TIME, STORED_TZ).strftime("%Y-%m-%d %H:%M UTC")
    expect.equal(found, [study] if wanted else [], req="QIDO-056", response=response,
                 what=f"studies matched by StudyDate={date_key}&StudyTime={time_key}&TimezoneOffsetFromUTC={tz} "
                      f"(the study holds {STORED_DATE} {STORED_TIME} at {STORED_TZ}, i.e. {moment})")
