"""Calendar arithmetic the programme's rules are written in (months, not 30-day blocks)."""

import calendar
from datetime import datetime


def add_months(moment: datetime, months: int) -> datetime:
    """The same wall-clock moment `months` later (or earlier); the day is clamped to the month's end.

    31 January plus one month is 28 (or 29) February, as a customer reading "expires in one month"
    would expect.
    """
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
