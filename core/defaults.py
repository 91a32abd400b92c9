"""The defaults `cua run --help` shows, written once, with no imports.

`core.settings.Settings` and the model table (`core.flavours`) take their defaults from here;
the CLI reads them when it builds its commands, at every start (`cua --version` included),
where loading the model table would cost start-up time for nothing.
"""

MODEL = "claude-opus-5-5"  # the Anthropic API's (and Foundry's) default model
# The newest model the documented InvokeModel ids reach, through the global profile.
BEDROCK_MODEL = "global.anthropic.claude-opus-4-6-v1"
VERTEX_MODEL = "claude-opus-4-6"
PROVIDER = "anthropic"
MAX_STEPS = 50
MAX_TOKENS = 4096
MONITOR = 1  # 1 = the primary monitor, 0 = all as one
KEEP_IMAGES = 3
WAIT_LOCK_S = 0.0
REPORT = False
DEMO_MODEL = "cua-demo-stand-in"  # the model name `cua demo` records: its scripted stand-in
