"""The reader's library: topics, follows, collections, export."""
