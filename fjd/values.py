"""The values of an array's parameters: comma lists and ranges (DESIGN.md, "Array jobs").

``a,b,c`` is three values, ``1..5`` a range of whole numbers, ``0..1:0.25`` a range with a
step, ``["a ", "b"]`` a JSON list (for values that begin or end with a blank); a backslash
keeps the next character as it is (``a\\,b`` is one value). A ValueList never expands a
range in memory: a sweep of a million tasks costs a few numbers.
"""
import decimal
import json
import re

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_RANGE = re.compile(r"(%s)\.\.(%s)(?::(%s))?\Z" % (_NUMBER, _NUMBER, _NUMBER))
_LOOKS_NUMERIC = re.compile(r"^\s*[-+]?\d|\.\.\s*[-+]?\d")


class ValueList:
    """The values of one parameter: literal values and ranges, never expanded in memory."""

    def __init__(self, segments):
        self.segments = segments  # [list of str] or (start Decimal, step Decimal, count, places)
        self.length = sum(len(s) if isinstance(s, list) else s[2] for s in segments)

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        if index < 0:
            index += self.length
        for segment in self.segments:
            size = len(segment) if isinstance(segment, list) else segment[2]
            if index < size:
                if isinstance(segment, list):
                    return segment[index]
                start, step, _, places = segment
                if places == 0:  # whole numbers: the same digits without Decimal arithmetic
                    return str(int(start) + int(step) * index)
                return format_number(start + step * index, places)
            index -= size
        raise IndexError(index)

    def __iter__(self):
        for index in range(self.length):
            yield self[index]


def format_number(value, places):
    if places == 0:
        return str(int(value))
    return str(value.quantize(decimal.Decimal(1).scaleb(-places)))


def split_commas(text):
    """'a,b\\,c' -> [('a', False), ('b,c', True)]: commas separate values, a backslash
    keeps the next character as it is; the flag says whether a value had one (such a value
    is never a range)."""
    values, current, escaped, literal = [], [], False, False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = literal = True
        elif char == ",":
            values.append(("".join(current), literal))
            current, literal = [], False
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    values.append(("".join(current), literal))
    return values


def escape_value(value):
    """A value as it must be written in a comma list so that it reads back as itself.
    (An INI line loses blanks at its end: values_text() writes such values as JSON.)"""
    text = value.replace("\\", "\\\\").replace(",", "\\,").replace("..", "\\..")
    if text[:1].isspace():
        text = "\\" + text
    if len(text) > 2 and text[-1:].isspace():
        text = text[:-1] + "\\" + text[-1]
    return text


def values_text(values):
    """The text of a [params] line for a list of values: a comma list, or a JSON list when
    a value begins or ends with a blank (which an INI line would lose)."""
    if any(v[:1].isspace() or v[-1:].isspace() for v in values):
        return json.dumps(list(values), ensure_ascii=False)
    return ",".join(escape_value(v) for v in values)


def parse_values(text):
    """A ValueList from 'a,b,c', '1..5' (a range), '0..1:0.25' (a range with a step).

    ValueError, with a message for people, for something that looks like a range but is
    not one ('1..', '1..3..2', '0.1..0.5' without a step).
    """
    stripped_text = text.strip()
    if stripped_text.startswith("[") and stripped_text.endswith("]"):
        try:
            listed = json.loads(stripped_text)
        except ValueError:
            listed = None
        if isinstance(listed, list) and all(isinstance(v, (str, int, float)) and
                                            not isinstance(v, bool) for v in listed):
            return ValueList([[str(v) for v in listed]] if listed else [])
    segments = []
    for value, literal in split_commas(text):
        stripped = value.strip()
        match = None if literal else _RANGE.match(stripped)
        if match:
            segments.append(range_segment(stripped, *match.groups()))
        elif not literal and ".." in stripped and _LOOKS_NUMERIC.search(stripped):
            raise ValueError("%r is not a range: write START..END (whole numbers) or "
                             "START..END:STEP, e.g. 1..10 or 0.1..0.5:0.1" % stripped)
        elif segments and isinstance(segments[-1], list):
            segments[-1].append(value)
        else:
            segments.append([value])
    return ValueList(segments)


def range_segment(text, start, end, step):
    places = max(decimals(start), decimals(end), decimals(step or "0"))
    if places and step is None:
        raise ValueError("the range %r has decimals, so it needs a step: e.g. %s..%s:%s"
                         % (text, start, end, "0." + "0" * (places - 1) + "1"))
    a, b = decimal.Decimal(start), decimal.Decimal(end)
    s = decimal.Decimal(step) if step is not None else decimal.Decimal(1 if b >= a else -1)
    if s == 0:
        raise ValueError("the range %r has a step of 0" % text)
    if (b - a) * s < 0:
        raise ValueError("the range %r never reaches its end: the step goes the other way"
                         % text)
    count = int((b - a) / s) + 1
    return (a, s, count, places)


def decimals(number):
    return len(number.partition(".")[2])
