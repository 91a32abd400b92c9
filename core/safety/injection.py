# ruff: noqa: RUF001 - look-alike letters and CJK punctuation are this module's subject
"""The injection detector: a pure judgement of text read off the screen.

`scan(lines)` returns the `Finding`s among the OCR'd `TextLine`s: text that talks to an AI agent
rather than to the person at the screen. What counts (each a `kind`):

- `override`: "ignore/disregard/forget (all) previous instructions" and the like.
- `new-task`: "your task has changed", "your new instructions are", "new instructions for the AI".
- `addressed-to-agent`: text aimed at an AI, assistant, agent, Claude or a language model: "AI
  agent: click ...", "Claude, type ...", "if you are an AI", "attention all AI assistants".
  A bare "assistant" or "Claude" is not enough ("assistant manager", "Claude Monet", "Dear
  Claude, please find attached"): it must be called on and told to act.
- `secret-request`: asks to reveal, send or type keys, passwords, tokens or credentials ("send
  your API key", "type your password here to verify"). A login form's "Enter your password" or
  "Show password" is not one.
- `urgent-system`: a system-style alarm (security alert, virus, "your session will be locked")
  that tells the reader to click, run, type or install something.

Matching sees a *skeleton* of the text, so look-alikes do not hide a phrase: `normalize_text`
(NFKC, zero-width characters gone, as the `destructive-shell` rule uses), lower case, Cyrillic
and Greek look-alike letters as their Latin twins, OCR's usual confusions folded together (0 and
o; 1, l, i and |; 5 and s; $ and s; @ and a), letter-spaced words joined ("i g n o r e") and
spaces between CJK characters dropped. Chinese phrases go through the same mechanism.

Consecutive lines are also judged together (up to three), since a sentence often wraps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .policy import normalize_text

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in screen pixels


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line of text found on the screen, and where."""

    text: str
    box: Box = (0, 0, 0, 0)
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class Finding:
    """Text on the screen that addresses the agent."""

    kind: str  # override | new-task | addressed-to-agent | secret-request | urgent-system
    text: str  # the line(s) as read, joined with a space
    box: Box  # where on screen, in screen pixels
    matched: str  # the phrase that matched, in skeleton form
    seen_in: str = "screenshot"  # screenshot | zoom (an image the zoom action sent Claude)

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "text": self.text, "box": list(self.box),
                "matched": self.matched, "seen_in": self.seen_in}


# --- the skeleton ---------------------------------------------------------------------------

# Cyrillic and Greek letters that look like Latin ones (lower case; upper case is lowered first).
_LOOKALIKES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "һ": "h",
    "ԁ": "d", "ԛ": "q", "ԝ": "w", "ո": "n", "ս": "u",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w",
})
# OCR's confusions and leetspeak, folded to one letter each. Patterns are written in plain
# lower case and folded the same way (only their letters: `_fold_pattern`).
_CONFUSIONS = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l", "5": "s", "$": "s",
                             "@": "a", "4": "a", "3": "e"})
_SPACED = re.compile(r"(?<![^\W\d_])(?:[^\W\d_] ){2,}[^\W\d_](?![^\W\d_])")
_CJK = r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]"
_CJK_GAP = re.compile(f"(?<={_CJK}) +|(?<=\\w) +(?={_CJK})|(?<={_CJK}) +(?=\\w)")


def skeleton(text: str) -> str:
    """The text as matching sees it (see the module docstring)."""
    text = normalize_text(text).lower().translate(_LOOKALIKES)
    text = re.sub(r"\s+", " ", text).strip()
    text = _CJK_GAP.sub("", text)
    text = _SPACED.sub(lambda m: m.group(0).replace(" ", ""), text)
    return text.translate(_CONFUSIONS)


def _fold_pattern(pattern: str) -> str:
    """A pattern's literal letters folded like the skeleton: i -> l (escapes untouched)."""
    return re.sub(r"(\\.)|i", lambda m: m.group(1) or "l", pattern)


# --- the phrases ----------------------------------------------------------------------------

_S = r"[^a-z0-9\u4e00-\u9fff]{0,4}"  # between words: spaces, punctuation, nothing (OCR joins)
_AGENT = (r"(?:ai|a\.i\.|artificial intelligence|llm|large language model|language model|"
          r"ai (?:assistant|agent|model|system|bot)s?|virtual assistant|autonomous agent|"
          r"computer[- ]?use agent|automated agent|browsing agent|chatbot|bot|claude|chatgpt|"
          r"gpt|gemini|copilot|the model|assistant|agent)")
_VERB = (r"(?:click|press|tap|type|enter|run|execute|open|navigate|go to|visit|download|"
         r"install|send|email|e-mail|copy|paste|reveal|share|provide|ignore|disregard|stop|"
         r"delete|remove|close|accept|approve|allow|grant|submit|transfer|pay|change|write|"
         r"select|choose|call|upload|forward|disable|turn off|do not|don't|you must|you should|"
         r"must|immediately)")
_VERB_END = r"\b(?! ?(?:and|or|,|/))"  # a verb, not a word in a list ("chat, email and phone")
_SECRET = (r"(?:(?:api|secret|access|private|ssh|auth|session|bearer|openai|anthropic|aws|"
           r"github|admin|root|master|wallet|account|login|user'?s?) ?)?"
           r"(?:keys?|passwords?|pass ?phrases?|tokens?|credentials?|secrets?|seed phrases?|"
           r"recovery phrases?|2fa codes?|one[- ]time (?:codes?|passwords?)|otp|pin|"
           r"system prompt|environment variables|env vars?|\.env(?: file)?|cookies?)"
           r"(?! (?:reset|hint|recovery|strength|manager|policy|requirements?|field|expired?))")
_REVEAL = (r"(?:reveal|share|send|tell|give|show|print|display|leak|expose|email|e-mail|post|"
           r"upload|forward|output|dump|read out|disclose|list)")

_EN: tuple[tuple[str, str], ...] = (
    ("override",
     r"(?:ignore|disregard|forget|override|bypass|skip|drop|abandon)" + _S +
     r"(?:all|any|every|each|the|your|my|of)?" + _S +
     r"(?:of )?(?:the |your )?(?:(?:previous|prior|above|earlier|preceding|original|initial|"
     r"existing|former|old|system'?s?|user'?s?|operator'?s?|current|other)" + _S + r"){1,2}" +
     r"(?:instructions?|prompts?|directions?|directives?|rules?|guidelines?|commands?|tasks?|"
     r"orders?|context|messages?|guidance)"),
    ("override",
     r"(?:ignore|disregard|forget)" + _S + r"(?:all|everything)" + _S +
     r"(?:you (?:were|have been) (?:told|given|asked)|(?:the )?user (?:said|asked|wants))"),
    ("override",
     r"(?:do not|don't|never|stop|no longer|cease) (?:follow|obey|listen)(?:ing)?(?: to)? "
     r"(?:the |your |any |all )?(?:user|previous|original|prior|system|current|earlier|"
     r"existing|instructions)"),
    ("addressed-to-agent",  # "to the model controlling this browser", "the AI reading this"
     r"(?:^|[^a-z])(?:to|for|attention|dear|hey|hi)" + _S + r"(?:the|any|an?|every) (?:ai|"
     r"a\.i\.|llm|"
     r"language model|model|agent|assistant|bot|chatbot|ai agent|ai assistant)s? "
     r"(?:that is |who is |which is )?(?:controlling|operating|using|reading|driving|running|"
     r"browsing|handling|viewing|processing|automating|working on)\b"),
    ("new-task",
     r"your" + _S + r"(?:new |real |actual |true |updated |only )?(?:task|goal|objective|"
     r"instructions?|mission|assignment|job|purpose|orders?|priority)" + _S +
     r"(?:has|have|is|are)?" + _S + r"(?:been )?(?:changed|updated|replaced|modified|"
     r"overridden|cancelled|canceled|revoked|now)"),
    ("new-task",
     r"your (?:new|real|actual|true|updated) (?:task|goal|objective|instructions?|mission|"
     r"assignment|job|orders?) (?:is|are)"),
    ("new-task",
     r"(?:new|updated|revised|important|urgent|priority|additional|secret|hidden|special) "
     r"(?:instructions?|task|orders?|directives?|commands?) (?:for|to) (?:the |all |any )?"
     + _AGENT),
    ("addressed-to-agent",
     r"(?:^|[^a-z])" + _AGENT + r"s?" + r"(?: (?:agent|assistant)s?)? ?[,:;!-]+" +
     r"(?: ?(?:please|now|kindly|immediately|urgently|first|you|must|should|need to|have to|"
     r"are required to|are instructed to)){0,3} ?" + _VERB + _VERB_END),
    ("addressed-to-agent",  # called on as an AI, then told to act in a later sentence
     r"(?:^|[^a-z])(?:ai|a\.i\.|llms?|large language models?|language models?|ai (?:assistant|"
     r"agent|model|system|bot)s?|autonomous agents?|automated agents?|computer[- ]?use agents?|"
     r"browsing agents?|chatbots?) ?[,:;!]+[^,:;!]" + r".{0,80}?" +
     r"[.!?;:,] ?(?:please |now |kindly |then )?" + _VERB + _VERB_END),
    ("addressed-to-agent",
     r"(?:if|when|since|because|as) you(?:'re| are)" + _S + r"(?:an? |the )?(?:ai\b|"
     r"a\.l\.|artificial|llm|large language|language model|automated|autonomous|bot\b|"
     r"chatbot|claude|chatgpt|gpt|gemini|computer[- ]?use|browsing agent|agent\b|"
     r"assistant\b|virtual assistant|model\b)"),
    ("addressed-to-agent",
     r"(?:attention|notice|note|message|instructions?|memo|reminder|warning|alert|important|"
     r"hey|hello|hi|dear|psst)" + _S + r"(?:to|for)?" + _S +
     r"(?:all |any |the |every |each |you )?" +
     r"(?:ai (?:assistant|agent|model|system|bot)s?|ai|llms?|large language models?|"
     r"language models?|autonomous agents?|automated agents?|computer[- ]?use agents?|"
     r"browsing agents?|chatbots?)" + r"(?![a-z])"),
    ("addressed-to-agent",  # a name alone is often a person's: only a note or memo to it
     r"(?:attention|notice|note|message|instructions?|memo|reminder|important)" + _S +
     r"(?:to|for)" + _S + r"(?:claude|chatgpt|gpt|gemini|copilot)(?![a-z])"),
    ("addressed-to-agent",
     r"(?:this|the following) (?:message|note|text|instruction|notice|section|content) "
     r"(?:is )?(?:for|to|addressed to) (?:the |any |all )?" + _AGENT + r"(?![a-z])"),
    ("addressed-to-agent",
     r"(?:as an? |you are an? |you're an? )(?:ai|llm|language model|ai assistant|ai agent|"
     r"autonomous agent)\b.{0,60}?(?:you (?:must|should|need to|have to|are (?:required|"
     r"instructed|allowed|authorized|permitted) to))"),
    ("secret-request",
     _REVEAL + r"(?: (?:me|us|it|them|here|below))?" + _S +
     r"(?:(?:your|the|its|all|any|every|my|our|their|this|that|user'?s?|system'?s?|stored|"
     r"saved) ){1,2}" + _SECRET),
    ("secret-request",
     r"(?:type|enter|paste|input|write|put|insert)" + _S + r"(?:in )?(?:your|the|all|any)" +
     _S + _SECRET + r"[^.!?]{0,80}?(?:to (?:verify|confirm|continue|proceed|unlock|validate|"
     r"authenticate|restore|keep)|for verification|in (?:the |this )?(?:chat|comment|reply|"
     r"message|answer|response))"),
    ("urgent-system",
     r"(?:(?:system|security|critical|urgent|emergency|important|os|admin|it)" + _S +
     r"(?:alert|warning|notice|notification|update|message|error|failure)|virus|malware|"
     r"trojan|ransomware|infected|compromised|hacked|breach|your (?:computer|system|session|"
     r"account|device|files?|data|pc) (?:is|are|has been|have been|will be) (?:at risk|locked|"
     r"suspended|deleted|terminated|encrypted|disabled|blocked|lost|compromised|infected))" +
     r".{0,160}?" + r"(?:click|press|tap|run|execute|type|paste|download|install|open|visit|"
     r"navigate|call|enter)\b"),
)

# Chinese: the same kinds, in the phrasing the seeds' language uses.
_CN: tuple[tuple[str, str], ...] = (
    ("override", r"(?:忽略|无视|忘记|忘掉|不要理会|不要遵守|放弃)(?:掉)?(?:你)?"
                 r"(?:之前|以前|此前|先前|刚才|以上|上文|上面|上述|前面|原来|原先|原有|所有|全部|"
                 r"一切)(?:的)?(?:所有|全部)?(?:的)?(?:所有|全部)?(?:的)?"
                 r"(?:指令|指示|说明|提示|命令|规则|任务|要求)"),
    ("new-task", r"你的(?:新)?(?:任务|目标|指令|工作)(?:已经?|现在)?(?:被)?(?:改变|变更|更改|更新|"
                 r"修改|取消|变了|换了|是)"),
    ("new-task", r"(?:新的?|最新|紧急|重要|秘密)(?:指令|指示|任务|命令)(?:给|致|对)?(?:ai|人工智能|"
                 r"助手|智能体|代理|模型|claude)"),
    ("addressed-to-agent", r"(?:致|给|对|告诉|提醒|注意)(?:所有|各位|每个)?(?:的)?"
                           r"(?:ai|人工智能|ai助手|ai代理|智能助手|智能体|大模型|语言模型|"
                           r"claude)(?:[:：,，]|的)"),
    ("addressed-to-agent", r"(?:如果|假如|若)你是(?:一个)?(?:ai|人工智能|助手|智能体|代理|"
                           r"语言模型|大模型|机器人|claude)"),
    ("addressed-to-agent", r"(?:ai|人工智能|ai助手|ai代理|智能体|claude)[:：,，]\s?(?:请|立即|"
                           r"马上|现在|必须)?(?:点击|按|输入|运行|执行|打开|下载|安装|发送|"
                           r"复制|粘贴|删除|关闭|提交|转账|忽略)"),
    ("secret-request", r"(?:输入|提供|告诉我|发送|透露|显示|泄露|粘贴|给我)(?:你的|您的|所有|"
                       r"全部)?(?:的)?(?:api ?key|api密钥|密钥|密码|令牌|口令|凭证|凭据|"
                       r"私钥|验证码|助记词|token)"),
    ("urgent-system", r"(?:系统|安全|紧急|严重)(?:警告|警报|通知|提示|错误)"
                      r".{0,80}?(?:立即|马上|立刻|请|必须)(?:点击|运行|执行|输入|下载|安装|打开)"),
)

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(_fold_pattern(p))) for kind, p in _EN + _CN)


# --- judging --------------------------------------------------------------------------------

def judge_text(text: str) -> tuple[str, str] | None:
    """(kind, matched phrase) for the first phrase that addresses the agent, else None."""
    seen = skeleton(text)
    for kind, pattern in _PATTERNS:
        found = pattern.search(seen)
        if found is not None:
            return kind, found.group(0).strip(" ,:;-")
    return None


def _union(boxes: Sequence[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))


def scan(lines: Sequence[TextLine], *, span: int = 3) -> list[Finding]:
    """The findings among `lines` (in reading order): each line alone, then runs of up to
    `span` consecutive lines for a sentence that wraps. A run is reported only when no line in
    it was reported alone."""
    findings: list[Finding] = []
    flagged: set[int] = set()
    for width in range(1, span + 1):
        for start in range(len(lines) - width + 1):
            window = range(start, start + width)
            if flagged.intersection(window):
                continue
            chosen = [lines[i] for i in window]
            text = " ".join(line.text.strip() for line in chosen)
            judged = judge_text(text)
            if judged is None:
                continue
            flagged.update(window)
            findings.append(Finding(judged[0], text, _union([c.box for c in chosen]), judged[1]))
    findings.sort(key=lambda f: (f.box[1], f.box[0]))
    return findings
