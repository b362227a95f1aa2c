"""INI text read the way configparser reads it (no interpolation, strict off), with a fast
path for the plain files nearly every job is: configparser costs a worker more than reading
and filing a small job together. Anything the fast path is not sure of (an indented line, a
[DEFAULT] section, a line that is neither a section header nor ``key: value``) goes to
configparser, so every file reads alike either way (test_ini.py compares the two)."""
import configparser

_SECTION = configparser.RawConfigParser.SECTCRE
_OPTION = configparser.RawConfigParser.OPTCRE
_COMMENTS = ("#", ";")


class Sections(dict):
    """{section: {key: value}} in file order, with the ConfigParser methods fjd uses."""

    def has_section(self, name):
        return name in self

    def sections(self):
        return list(self)


def quick_parse(text):
    """The Sections of plain INI text, or None when configparser must read it."""
    sections = Sections()
    current = None
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith(_COMMENTS):
            continue
        if line[0].isspace():
            return None  # a continuation line, or an indented one: configparser's rules
        header = _SECTION.match(stripped)
        if header is not None:
            name = header.group("header")
            if name == configparser.DEFAULTSECT:
                return None
            current = sections.setdefault(name, {})
            continue
        option = _OPTION.match(stripped)
        if current is None or option is None:
            return None  # configparser says what is wrong
        key = option.group("option").rstrip()
        if not key:
            return None
        current[key.lower()] = option.group("value").strip()
    return sections


def read(text, parser_factory):
    """Sections of text: the fast path, else a parser from parser_factory() (which raises
    configparser's errors for text that is no INI file)."""
    sections = quick_parse(text)
    if sections is not None:
        return sections
    parser = parser_factory()
    parser.read_string(text, source="job file")
    return parser
