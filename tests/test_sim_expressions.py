"""TaskRouter's expression language, as the simulator's workflow and EvaluateTaskAttributes use it."""

from __future__ import annotations

import pytest

from sim.expressions import ExpressionError, evaluate

TASK = {
    "conversationSid": "CH1",
    "channelType": "whatsapp",
    "KnownAgentRoutingFlag": "true",
    "priority_level": 5,
    "rating": 4.5,
    "vip": True,
    "skills": ["billing", "support"],
    "customer": {"name": "Jane", "languages": ["en", "es"]},
    "empty": None,
}


@pytest.mark.parametrize(
    "expression, expected",
    [
        ('conversationSid == "CH1"', True),
        ("conversationSid == 'CH1'", True),
        ('conversationSid = "CH1"', True),
        ('conversationSid == "CH2"', False),
        ('conversationSid != "CH2"', True),
        ('conversationSid IN ["CH2", "CH1"]', True),
        ('conversationSid in ["CH2", "CH3"]', False),
        ('conversationSid NOT IN ["CH2", "CH3"]', True),
        ('conversationSid not in ["CH1"]', False),
        ("priority_level > 4", True),
        ("priority_level >= 5 AND priority_level <= 5", True),
        ("priority_level < 5", False),
        ("rating >= 4.5", True),
        ("priority_level == 5.0", True),
        ('skills HAS "billing"', True),
        ('skills HAS "sales"', False),
        ('skills CONTAINS "port"', True),
        ('customer.name CONTAINS "an"', True),
        ('customer.name == "Jane"', True),
        ('customer.languages HAS "es"', True),
        ('customer.languages[1] == "es"', True),
        ('customer.languages[5] == "es"', False),
        ('channelType == "sms" OR channelType == "whatsapp"', True),
        ('channelType == "sms" || channelType == "whatsapp"', True),
        ('channelType == "whatsapp" && priority_level > 10', False),
        ('(channelType == "sms" or channelType == "whatsapp") and vip == true', True),
        ('NOT channelType == "sms"', True),
        ('NOT (channelType == "whatsapp")', False),
        ('!(channelType == "sms")', True),
        ("vip == true", True),
        ("vip != false", True),
        ("1 == 1", True),
        ('"apple" != "orange"', True),
        ("vip", True),
        ('KnownAgentRoutingFlag == "true"', True),
    ],
)
def test_expression_matches_task_attributes(expression: str, expected: bool) -> None:
    assert evaluate(expression, TASK) is expected


@pytest.mark.parametrize(
    "expression",
    [
        'missing == "x"',
        'missing != "x"',
        'missing IN ["x"]',
        'missing NOT IN ["x"]',
        "missing > 1",
        'missing HAS "x"',
        'missing CONTAINS "x"',
        'empty == "x"',
        'customer.missing.deeper == "x"',
        'conversationSid.sub == "x"',
    ],
)
def test_a_missing_attribute_compares_false(expression: str) -> None:
    assert evaluate(expression, TASK) is False


@pytest.mark.parametrize(
    "expression, expected",
    [
        ('priority_level == "5"', False),  # different types never match
        ('priority_level > "4"', False),
        ('conversationSid > 1', False),
        ('skills == "billing"', False),
    ],
)
def test_comparisons_between_types_are_false(expression: str, expected: bool) -> None:
    assert evaluate(expression, TASK) is expected


def test_a_json_boolean_matches_the_string_studio_would_have_rendered() -> None:
    # The seed plugin writes the flag as a JSON boolean; Studio's Liquid turns it into "true".
    assert evaluate('KnownAgentRoutingFlag == "true"', {"KnownAgentRoutingFlag": True})
    assert not evaluate('KnownAgentRoutingFlag == "true"', {"KnownAgentRoutingFlag": False})
    assert evaluate('KnownAgentRoutingFlag == "false"', {"KnownAgentRoutingFlag": False})
    assert not evaluate('KnownAgentRoutingFlag == "true"', {"KnownAgentRoutingFlag": ""})


def test_and_binds_tighter_than_or() -> None:
    assert evaluate('channelType == "sms" AND vip == false OR priority_level == 5', TASK)
    assert not evaluate('channelType == "sms" AND (vip == false OR priority_level == 5)', TASK)


def test_quotes_inside_strings_are_escaped() -> None:
    assert evaluate('name == "say \\"hi\\""', {"name": 'say "hi"'})
    assert evaluate("name == 'it\\'s'", {"name": "it's"})


def test_keywords_are_case_insensitive_but_keys_are_not() -> None:
    assert evaluate('conversationSid In ["CH1"] aNd Vip == TRUE', {"conversationSid": "CH1", "Vip": True})
    assert not evaluate('conversationsid == "CH1"', TASK)


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "   ",
        'conversationSid ==',
        '== "CH1"',
        'conversationSid == "CH1" AND',
        '(conversationSid == "CH1"',
        'conversationSid == "CH1")',
        'conversationSid IN ["CH1"',
        'conversationSid == "unterminated',
        "conversationSid == CH1 == 2",
        'conversation-sid == "x"',  # hyphens are not supported in TaskRouter expressions
        'a == "x" b == "y"',
        "a ~ 1",
    ],
)
def test_malformed_expressions_are_rejected(expression: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expression, TASK)
