"""British formats with a 24-hour clock, as the rest of the pages write times (05:40, not
5:40 a.m.); everything not set here comes from Django's en_GB formats.

Dates are typed day first, as they are shown: 31/01/2027 (also 31-01-2027, 31.01.2027,
31 Jan 2027), and ISO 2027-01-31, which the API, links and tests send (Django adds it to
these anyway). No two-digit years: 01/01/65 would be read as 2065."""

DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
DATE_INPUT_FORMATS = [
    "%d/%m/%Y",  # the first: how a date field shows its value (karo.inputs.DayFirstDateInput)
    "%d-%m-%Y",
    "%d.%m.%Y",
    "%d %b %Y",
    "%d %B %Y",
    "%Y-%m-%d",
]
