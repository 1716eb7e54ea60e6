"""Free-text FAQ matching and light language detection for the 24 EU languages."""

from handlers.faq_match.langdetect import detect_language
from handlers.faq_match.matcher import FaqMatch, FaqMatcher

__all__ = ["FaqMatch", "FaqMatcher", "detect_language"]
