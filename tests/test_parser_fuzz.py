"""Every scheduler parser (tests/fuzz.py) refuses bad text only with a ParseError: any text, and damaged real samples."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz import PARSERS, TEXTS, Parser, sample_names, sample_text
from helpers import damaged, only_parse_errors

each_parser = pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.id)


@each_parser
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_raises_only_parse_error_on_any_text(parser: Parser, data: st.DataObject) -> None:
    only_parse_errors(parser.parse, data.draw(TEXTS[parser.scheduler], label="text"))


@each_parser
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_raises_only_parse_error_on_damaged_samples(parser: Parser, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sample_names(parser.scheduler)), label="sample")
    only_parse_errors(parser.parse, damaged(sample_text(name), data.draw))


@each_parser
def test_survives_every_sample_of_its_scheduler(parser: Parser) -> None:
    for name in sample_names(parser.scheduler):
        only_parse_errors(parser.parse, sample_text(name))
