"""Claude: the SDK client, the reply, every request shape, providers, tool flavours and prices."""
