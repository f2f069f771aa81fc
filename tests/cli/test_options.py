"""The analysis options are defined once: flags named after the settings' fields, CT-Angel's defaults, the
same for ``analyze`` and ``serve``."""

from __future__ import annotations

import inspect

from ctangel.cli.analyze import analyze_command
from ctangel.cli.options import SETTINGS_FIELDS
from ctangel.cli.serve import serve_command
from ctangel.inference import AnalysisSettings


def test_defaults_are_the_settings_defaults_and_flags_their_names() -> None:
    defaults = AnalysisSettings()
    for command in (analyze_command, serve_command):
        params = inspect.signature(command).parameters
        for name in SETTINGS_FIELDS:
            param = params[name]
            assert param.default == getattr(defaults, name), name
            option = param.annotation.__metadata__[0]
            flags = [str(d).split("/")[0] for d in (option.default, *option.param_decls)]
            assert f"--{name.replace('_', '-')}" in flags, name
        assert {"max_image_pixels", "deidentify"} <= set(params)
