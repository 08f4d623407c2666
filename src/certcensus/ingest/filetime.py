"""When a capture was taken, if the file says so only in its name.

Windows scripts name captures with a WMI CIM_DATETIME (`Win32_OperatingSystem.LocalDateTime`):
`yyyymmddHHMMSS.mmmmmmsUUU`, where sUUU is the offset from UTC in minutes, e.g.
`20161213170505.497000-360certfile.txt` is 17:05:05.497 at UTC-6, i.e. 23:05:05.497Z.
Plain stamps (`20161213T170505`, `2016-12-13_17-05-05`) carry no zone; we read them as UTC,
the only choice that does not depend on the machine doing the ingest.
"""

from __future__ import annotations

import datetime as dt
import re

_WMI = re.compile(r"(?<!\d)(\d{14})\.(\d{6})([+-]\d{3})(?!\d)")
_PLAIN = re.compile(
    r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})[T_ -]?(\d{2})[:-]?(\d{2})[:-]?(\d{2})(?:\.(\d{1,6}))?(Z)?(?!\d)"
)


def time_from_file_name(name: str) -> float | None:
    """Unix time from a timestamp in `name`, or None when there is none (or it is not a date)."""
    try:
        if match := _WMI.search(name):
            local = dt.datetime.strptime(match[1], "%Y%m%d%H%M%S")
            offset = dt.timedelta(minutes=int(match[3]))
            moment = local.replace(tzinfo=dt.timezone(offset)) + dt.timedelta(
                microseconds=int(match[2])
            )
            return moment.timestamp()
        if match := _PLAIN.search(name):
            year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
            fraction = int((match[7] or "0").ljust(6, "0"))
            moment = dt.datetime(year, month, day, hour, minute, second, fraction, dt.UTC)
            return moment.timestamp()
    except ValueError:  # 14 digits that are not a date (month 13, ...)
        return None
    return None
