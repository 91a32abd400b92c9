"""Memory, request size, tokens and cost over long scripted runs, with and without caching/pruning.

Runs the real loop and the real SDK against the fake Messages API (which estimates image tokens
as width*height/750 and simulates the prompt cache) on an in-memory desktop whose screen changes
every step, so nothing needs a display. Run:  python benchmarks/context_growth.py [--steps 200]
"""

from __future__ import annotations

import argparse
import random
import statistics

from claude_cua.cli.demo.fakeapi import FakeMessagesAPI, Reply
from claude_cua.cli.demo.policies import computer_call
from claude_cua.core.engine.loop import LoopConfig, run_task
from claude_cua.core.model.claude import ClaudeClient
from claude_cua.core.model.context import flavour_for
from claude_cua.core.vocab.desktop import FakeDesktop
from claude_cua.core.vocab.events import StepFinished
from claude_cua.core.vocab.record import price_for
from PIL import ImageDraw

MODEL = "claude-sonnet-4-6"


class ChangingDesktop(FakeDesktop):
    """A 1920x1080 screen that shows a fresh set of random boxes after every click."""

    def click(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().click(*args, **kwargs)
        self.image.paste((40, 44, 52), (0, 0, *self.image.size))
        draw = ImageDraw.Draw(self.image)
        for _ in range(20):
            x, y = random.randrange(1800), random.randrange(1000)
            colour = tuple(random.randrange(256) for _ in range(3))
            draw.rectangle((x, y, x + 120, y + 60), fill=colour)
            draw.text((x + 5, y + 5), f"item {random.randrange(10**6)}", fill=(0, 0, 0))


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def one_run(steps: int, *, keep_images: int, cache: bool) -> dict[str, object]:
    random.seed(7)
    rss: dict[int, float] = {}
    sizes: list[int] = []

    def on_event(event: object) -> None:
        if isinstance(event, StepFinished):
            # The fake server lives in this process and keeps every request it gets; keep only
            # the sizes, so the RSS figures are the client's own.
            with api._changed:
                sizes.extend(len(r.body) for r in api._requests)
                api._requests.clear()
            if event.step in (20, steps):
                rss[event.step] = rss_mb()

    with FakeMessagesAPI() as api:
        api.queue(*[lambda req: Reply([computer_call(req, "left_click",
                                                     coordinate=[500, 400])])] * steps)
        client = ClaudeClient(api_key="bench", base_url=api.url, max_retries=0)
        config = LoopConfig(model=MODEL, flavour=flavour_for(MODEL), max_steps=steps,
                            keep_images=keep_images, prompt_cache=cache, price=price_for(MODEL))
        result = run_task("benchmark", desktop=ChangingDesktop(), client=client, config=config,
                          on_event=on_event)
        client.close()
    return {"result": result, "sizes": sizes, "rss": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    n = args.steps
    print(f"{n} click steps on a changing 1920x1080 screen, model {MODEL} prices")
    print("setting                 | body step 1 | body step 10 | body last | max body | "
          "tokens/step | $/step  | RSS@20 → RSS@last")
    for label, keep, cache in (("cache + keep 3 (default)", 3, True),
                               ("cache, no pruning", 10**6, True),
                               ("no cache, keep 3", 3, False),
                               ("no cache, no pruning", 10**6, False)):
        # Unpruned requests pass the API's 100-image limit; stop before it.
        steps = 100 if keep > 100 and n > 100 else n
        out = one_run(steps, keep_images=keep, cache=cache)
        result, sizes, rss = out["result"], out["sizes"], out["rss"]
        per_step_tokens = result.usage.total / result.steps
        tenth = sizes[min(9, len(sizes) - 1)]
        print(f"{label:<24}| {sizes[0] / 1000:>8.0f} KB | {tenth / 1000:>9.0f} KB"
              f" | {sizes[-1] / 1000:>6.0f} KB | {max(sizes) / 1000:>5.0f} KB | "
              f"{per_step_tokens:>11.0f} | {result.cost_usd / result.steps:.4f} | "
              f"{rss.get(20, float('nan')):.0f} → {rss.get(steps, float('nan')):.0f} MB"
              f" ({steps} steps)")
    print(f"median body, default setting, steps 20..{n}: "
          f"{statistics.median(one_run(n, keep_images=3, cache=True)['sizes'][19:]) / 1000:.0f} KB")


if __name__ == "__main__":
    main()
