"""Spell digit strings as English words, the way LibriSpeech transcripts write numbers."""

ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SCALES = ((10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand"))


def _below_thousand(n):
    words = []
    if n >= 100:
        words += [ONES[n // 100], "hundred"]
        n %= 100
        if n == 0:
            return words
    if n < 20:
        words.append(ONES[n])
    else:
        words.append(TENS[n // 10])
        if n % 10:
            words.append(ONES[n % 10])
    return words


def number_words(n):
    """Cardinal words of a non-negative integer: 323 -> 'three hundred twenty three'."""
    n = int(n)
    if n < 0:
        raise ValueError(f"negative number {n}")
    if n == 0:
        return "zero"
    words = []
    for value, name in SCALES:
        if n >= value:
            words += number_words(n // value).split() + [name]
            n %= value
    if n:
        words += _below_thousand(n)
    return " ".join(words)


def spell_digits(text):
    """Replace every all-digit word by its cardinal words ('press 3' -> 'press three')."""
    return " ".join(number_words(w) if w.isdigit() and w.isascii() else w for w in text.split())
