"""The engine: one step, the run loop, replay through the step, the composition root."""
