"""python -m vhostguard"""
from vhostguard.cli import main

main()
