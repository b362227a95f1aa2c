"""fjd: file-based job distribution over a folder that every node can see."""
__version__ = "0.2.0"
