"""llmotel: OpenTelemetry for LLM applications.

``llmotel.init()`` sets up OpenTelemetry (or reuses the providers already installed)
and instruments every supported LLM client library that is installed.
"""

from llmotel.config import ConfigError, ContentMode, Settings
from llmotel.sdk import init, shutdown

__all__ = ["ConfigError", "ContentMode", "Settings", "init", "shutdown"]
__version__ = "0.1.0"
