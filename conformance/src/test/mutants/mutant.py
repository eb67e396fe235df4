"""What the mutant engines share: finding the inner engine, reading CRIU's options and pstree.img.

A mutant is a thin wrapper around a working engine (bin/cryo, or CRYO_MUTANT_INNER) that breaks one
thing a correct checkpoint/restore keeps. The conformance suite must catch each one with the check
meant for it (MutantEngineTest)."""
import os
import subprocess
import sys

import pycriu.images as images

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..'))


def inner():
    return os.environ.get('CRYO_MUTANT_INNER') or os.path.join(REPO, 'bin', 'cryo')


def run_inner(argv):
    return subprocess.call([inner()] + argv)


def option(argv, name):
    for i, a in enumerate(argv[:-1]):
        if a == name:
            return argv[i + 1]
    return None


def tree_pids(images_dir):
    with open(os.path.join(images_dir, 'pstree.img'), 'rb') as f:
        return [e['pid'] for e in images.load(f)['entries']]


def fail(message):
    print('mutant %s: %s' % (os.path.basename(sys.argv[0]), message), file=sys.stderr)
    sys.exit(3)


def drop_manifest(images_dir):
    """Removes Cryo's checksum manifest, which would refuse the mutated images before any check could."""
    try:
        os.unlink(os.path.join(images_dir, 'cryo-checksums'))
    except FileNotFoundError:
        pass
