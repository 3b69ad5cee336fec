"""Composite alarms: ``AlarmRule`` parsed and evaluated as CloudWatch does.

Grammar (PutCompositeAlarm): ``ALARM(name)``, ``OK(name)``, ``INSUFFICIENT_DATA(name)`` where
``name`` is an alarm name or ARN, quoted with double quotes or bare; ``TRUE``; ``FALSE``;
``AND``, ``OR``, ``NOT`` and parentheses (NOT binds tightest, then AND, then OR). A composite
alarm is ALARM when its rule is true, else OK.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["CompositeAlarm", "RuleError", "parse_rule"]

_TOKEN = re.compile(
    r"\s*(?:(?P<fn>ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*(?:\"(?P<q>[^\"]*)\"|(?P<b>[^()\s\"]+))\s*\)"
    r"|(?P<kw>AND|OR|NOT|TRUE|FALSE)(?![A-Za-z0-9_])|(?P<p>[()]))"
)

Rule = Callable[[Mapping[str, str]], bool]


class RuleError(ValueError):
    pass


@dataclass
class _Parser:
    text: str
    pos: int = 0
    names: list[str] = field(default_factory=list)

    def peek(self) -> re.Match[str] | None:
        if self.pos >= len(self.text.rstrip()):
            return None
        match = _TOKEN.match(self.text, self.pos)
        if match is None:
            raise RuleError(
                f"cannot read the rule at character {self.pos + 1}: {self.text[self.pos :][:30]!r}"
            )
        return match

    def take(self) -> re.Match[str]:
        match = self.peek()
        if match is None:
            raise RuleError("the rule ends too early")
        self.pos = match.end()
        return match

    def expr(self) -> Rule:
        left = self.term()
        while (m := self.peek()) is not None and m.group("kw") == "OR":
            self.take()
            right = self.term()
            left = (lambda a, b: lambda s: a(s) or b(s))(left, right)
        return left

    def term(self) -> Rule:
        left = self.factor()
        while (m := self.peek()) is not None and m.group("kw") == "AND":
            self.take()
            right = self.factor()
            left = (lambda a, b: lambda s: a(s) and b(s))(left, right)
        return left

    def factor(self) -> Rule:
        m = self.take()
        if m.group("kw") == "NOT":
            inner = self.factor()
            return lambda s: not inner(s)
        if m.group("kw") in ("TRUE", "FALSE"):
            value = m.group("kw") == "TRUE"
            return lambda s: value
        if m.group("p") == "(":
            inner = self.expr()
            close = self.take()
            if close.group("p") != ")":
                raise RuleError(f"expected ')' at character {close.start() + 1}")
            return inner
        if m.group("fn"):
            wanted = m.group("fn")
            name = m.group("q") if m.group("q") is not None else m.group("b")
            self.names.append(name)
            return lambda s: s.get(name) == wanted
        raise RuleError(f"unexpected '{m.group(0).strip()}' at character {m.start() + 1}")


def parse_rule(text: str) -> tuple[Rule, list[str]]:
    """The rule as a function of alarm states (by the names the rule uses), and those names."""
    if len(text) > 10240:
        raise RuleError("an AlarmRule is at most 10,240 characters")
    parser = _Parser(text)
    rule = parser.expr()
    if parser.peek() is not None:
        raise RuleError(
            f"unexpected text at character {parser.pos + 1}: {text[parser.pos :][:30]!r}"
        )
    return rule, parser.names


@dataclass
class CompositeAlarm:
    name: str
    rule_text: str
    rule: Rule
    references: list[str]  # names or ARNs as written in the rule
    alarm_actions: list[str] = field(default_factory=list)
    ok_actions: list[str] = field(default_factory=list)
    insufficient_data_actions: list[str] = field(default_factory=list)
    actions_enabled: bool = True
    description: str = ""
    stack: str = ""
    logical_id: str = ""
    arn: str = ""

    def evaluate(self, states: Mapping[str, str]) -> str:
        return "ALARM" if self.rule(states) else "OK"
