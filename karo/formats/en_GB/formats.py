"""British formats with a 24-hour clock, as the rest of the pages write times (05:40, not
5:40 a.m.); everything not set here comes from Django's en_GB formats."""

DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
