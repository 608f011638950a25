"""Text-to-speech front and back ends: the text front end (phonemes, symbol table) and the
audio codecs whose tokens the codec language models (VALL-E / VALL-M) predict."""
