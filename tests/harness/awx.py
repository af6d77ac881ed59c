# SPDX-License-Identifier: GPL-3.0-or-later
"""What AWX does with runbook.ops' credential types, done the same way in the tests."""
from __future__ import annotations

import jinja2.sandbox


def inject_extra_vars(credential_type: dict, inputs: dict) -> dict:
    """The extra variables AWX injects for a credential of ``credential_type``
    (CredentialType.inject_credential: an immutable sandbox over the credential's inputs)."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment()

    def build(node):
        if isinstance(node, dict):
            return {build(k): build(v) for k, v in node.items()}
        if isinstance(node, list):
            return [build(x) for x in node]
        return env.from_string(node).render(**inputs)

    return build(credential_type["injectors"]["extra_vars"])
