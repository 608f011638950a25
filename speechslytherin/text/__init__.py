"""Text processing: subword tokenizers for ASR (SentencePiece)."""
