"""Build hook: the wheel carries the repository's top-level settings.toml as core/settings.toml.

The metadata lives in pyproject.toml. settings.toml stays at the repository root, the one place defaults
are written; core.settings reads core/settings.toml when installed from a wheel and the root file in a
checkout or an editable install (which never runs this copy, so editing settings.toml takes effect).
"""

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithSettings(build_py):
    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            self.mkpath(f"{self.build_lib}/core")
            self.copy_file("settings.toml", f"{self.build_lib}/core/settings.toml")

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        return outputs if self.editable_mode else [*outputs, f"{self.build_lib}/core/settings.toml"]


setup(cmdclass={"build_py": BuildPyWithSettings})
