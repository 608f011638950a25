"""Varied English sentences with known transcripts, for synthesized speech.

A small hand-written grammar (statements, requests, questions, digit strings, times) gives
each utterance a different word sequence, so ASR/TTS tasks built on the mini corpus see
real lexical variety. Each sentence comes as (spoken_text, transcript): the spoken text is
what the TTS engine reads (with punctuation), the transcript is lower-case words only, as an
ASR reference.
"""

import re

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh"]

NAMES = [
    "anna", "ben", "clara", "david", "emma", "frank", "grace", "henry", "irene", "jack",
    "laura", "martin", "nina", "oscar", "paula", "robert", "sarah", "thomas", "vera", "walter",
]
ADJECTIVES = [
    "old", "new", "small", "large", "green", "yellow", "quiet", "busy", "heavy", "bright",
    "cold", "warm", "broken", "empty", "little", "modern", "wooden", "narrow", "famous", "simple",
]
NOUNS = [
    "car", "house", "river", "garden", "window", "letter", "teacher", "doctor", "market",
    "bridge", "station", "kitchen", "table", "picture", "engine", "farmer", "village", "ticket",
    "machine", "mountain", "office", "student", "report", "bottle", "camera", "library",
]
PLURALS = {
    "car": "cars", "house": "houses", "river": "rivers", "garden": "gardens", "window": "windows",
    "letter": "letters", "teacher": "teachers", "doctor": "doctors", "market": "markets",
    "bridge": "bridges", "station": "stations", "kitchen": "kitchens", "table": "tables",
    "picture": "pictures", "engine": "engines", "farmer": "farmers", "village": "villages",
    "ticket": "tickets", "machine": "machines", "mountain": "mountains", "office": "offices",
    "student": "students", "report": "reports", "bottle": "bottles", "camera": "cameras",
    "library": "libraries",
}
VERBS_PAST = [
    "found", "painted", "opened", "cleaned", "moved", "sold", "bought", "carried", "checked",
    "visited", "closed", "repaired", "watched", "described", "covered", "reached",
]
VERBS_BASE = [
    "find", "paint", "open", "clean", "move", "sell", "buy", "carry", "check", "visit",
    "close", "repair", "watch", "describe", "cover", "reach",
]
PREPOSITIONS = ["near", "behind", "beside", "under", "across", "inside", "outside", "above"]
TIMES = [
    "today", "tomorrow", "yesterday", "this morning", "tonight", "next week", "last year",
    "on monday", "on friday", "after lunch", "before dinner", "in the evening",
]
NUMBERS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve", "twenty"]
ADVERBS = ["slowly", "quickly", "carefully", "quietly", "early", "again", "together", "gladly"]


def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


def _noun_phrase(rng):
    if rng.random() < 0.5:
        return f"the {_pick(rng, ADJECTIVES)} {_pick(rng, NOUNS)}"
    return f"the {_pick(rng, NOUNS)}"


def _statement(rng):
    subject = _pick(rng, NAMES) if rng.random() < 0.5 else _noun_phrase(rng)
    words = f"{subject} {_pick(rng, VERBS_PAST)} {_noun_phrase(rng)}"
    if rng.random() < 0.6:
        words += f" {_pick(rng, PREPOSITIONS)} {_noun_phrase(rng)}"
    if rng.random() < 0.5:
        words += f" {_pick(rng, TIMES)}"
    return words + "."


def _request(rng):
    noun = _pick(rng, NOUNS)
    words = f"please {_pick(rng, VERBS_BASE)} {_pick(rng, NUMBERS)} {PLURALS[noun]}"
    if rng.random() < 0.5:
        words += f" {_pick(rng, ADVERBS)}"
    words += f" {_pick(rng, TIMES)}"
    return words + "."


def _question(rng):
    start = _pick(rng, ["did", "will", "can", "should"])
    words = f"{start} {_pick(rng, NAMES)} {_pick(rng, VERBS_BASE)} {_noun_phrase(rng)}"
    if rng.random() < 0.6:
        words += f" {_pick(rng, PREPOSITIONS)} {_noun_phrase(rng)}"
    return words + "?"


def _digit_string(rng):
    length = int(rng.integers(4, 10))
    digits = " ".join(_pick(rng, DIGITS) for _ in range(length))
    lead = _pick(rng, ["", "my number is ", "please call ", "the code is ", "dial "])
    return f"{lead}{digits}."


GENERATORS = (_statement, _statement, _request, _question, _digit_string)


def normalise_transcript(text):
    """Lower-case words with apostrophes kept; everything else becomes a word break."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"[^\w' ]+|_", " ", text)
    return " ".join(word.strip("'") for word in text.split() if word.strip("'"))


def make_sentence(rng):
    """One random sentence: (text for the TTS engine, normalised transcript)."""
    spoken = _pick(rng, GENERATORS)(rng)
    spoken = spoken[0].upper() + spoken[1:]
    return spoken, normalise_transcript(spoken)
