"""Sentences of chat text, and cutting a text down to whole sentences.

A sentence ends at terminal punctuation (`. ! ? …`, with closing quotes or
brackets) followed by whitespace or the end of the line, after CJK terminal
punctuation (`。！？`), or at a line break: a line of code, a list item or a
message without punctuation is one sentence. Sentences never span lines. An
initial (`Ursula K. Le Guin`) or a common abbreviation (`Mr.`, `e.g.`) does not
end a sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from storage.tokens import count_tokens

__all__ = ["iter_sentences", "one_line", "split_sentences", "truncate_to_sentences"]

_PIECE = re.compile(
    r"\S[^\n]*?(?:[.!?…]+[\"'”’)\]]*(?=\s|$)|[。！？]+[」』”’）)]*|$)", re.MULTILINE
)
"""Text up to a sentence end, within a line (no lookbehinds: they make it 5x slower)."""
_NOT_AN_END = re.compile(r"(?:\b[A-Z]|\b(?:Mrs?|Ms|Dr|St|vs|e\.g|i\.e))\.$")
"""A piece ending like this continues in the next one."""


def one_line(text: str) -> str:
    """`text` with every run of whitespace (newlines included) made one space, and
    none at either end."""
    # Most texts are one line already: checking is several times quicker than
    # splitting. Every whitespace character but the space is unprintable.
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


def iter_sentences(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each sentence of `text`, in order, without surrounding spaces."""
    start = end = -1
    for match in _PIECE.finditer(text):
        piece_start, piece_end = match.span()
        while text[piece_end - 1].isspace():
            piece_end -= 1
        continues = start >= 0 and "\n" not in text[end:piece_start]
        if continues and text[end - 1] == "." and _NOT_AN_END.search(text, end - 5, end):
            end = piece_end  # the piece continues the sentence
            continue
        if start >= 0:
            yield start, end
        start, end = piece_start, piece_end
    if start >= 0:
        yield start, end


def split_sentences(line: str) -> list[str]:
    """The sentences of one line of text (with no line break in it), as written."""
    pieces: list[str] = _PIECE.findall(line)
    if len(pieces) < 2:
        return [piece.rstrip() for piece in pieces]
    sentences = [pieces[0].rstrip()]
    for piece in pieces[1:]:
        last = sentences[-1]
        if last[-1] == "." and _NOT_AN_END.search(last, len(last) - 5):
            sentences[-1] = f"{sentences[-1]} {piece.rstrip()}"
        else:
            sentences.append(piece.rstrip())
    return sentences


def truncate_to_sentences(text: str, max_tokens: int, max_bytes: int) -> str:
    """The longest run of leading whole sentences of `text` within both limits.

    Layout between the kept sentences (line breaks, paragraphs) is kept. Returns
    `text` stripped when it fits, and "" when not even its first sentence does.
    """
    text = text.strip()
    if len(text.encode()) <= max_bytes and count_tokens(text) <= max_tokens:
        return text
    # Never look past max_bytes characters: each character is at least one byte.
    head = text[: max_bytes + 1]
    ends = [end for _, end in iter_sentences(head) if end <= max_bytes]
    if ends and ends[-1] == len(head) and len(head) < len(text):
        ends.pop()  # the window cut the last sentence: it is not whole
    low, high = 0, len(ends)
    while low < high:  # the most sentences whose prefix fits, by bisection
        middle = (low + high + 1) // 2
        prefix = head[: ends[middle - 1]]
        if len(prefix.encode()) <= max_bytes and count_tokens(prefix) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    return head[: ends[low - 1]] if low else ""
