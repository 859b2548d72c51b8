"""The command line's one error boundary: what reaches the top of a command becomes one line on
standard error and an exit code, never a stack trace.

=====  ==========================================================================================
code   meaning
=====  ==========================================================================================
0      done
1      done, but not all of it (``report`` left an input out, ``report --check`` found a
       broken page)
2      bad input: a file, an option or a folder that cannot be used (the line names it), an
       input too large for this machine's memory, or an int8 file ``export --verify`` found
       disagreeing with fp32
74     the system failed a read or a write: a full disk, a read-only folder, a lost device
130    stopped by SIGINT (Ctrl-C); 143: stopped by SIGTERM (``kill``)
=====  ==========================================================================================

A stopped command says what it kept (:data:`KEPT`) and how to go on. A programming error (any
other exception) still shows its traceback: that is a bug to report, not bad input.
"""

from __future__ import annotations

import errno
import os
import pickle
import re
import signal
import sys
import zlib
from collections.abc import Callable

from cnnzoo.interrupt import Interrupted, catch_stop_signals, stop_in_chain, stopped

BAD_INPUT, SYSTEM = 2, 74
# errors a decoder raises on a malformed file (OSError subclasses, gzip's and PIL's, are the
# system's or the file's: see os_error_line)
DECODE_ERRORS = (ValueError, EOFError, pickle.UnpicklingError, zlib.error)

# what a stopped command leaves behind, by command (``train`` and ``nas train`` print their own
# line, with the command that continues the run)
KEPT = {
    "report": "the site in --out is as it was before this command; run it again to build it",
    "embed": "the map folder is as it was before this command; run it again to make it",
    "inspect": "the folder in --out is as it was before this command; run it again to make it",
    "export": "no file was written; run it again to export",
    "draw": "no file was written; run it again to draw",
    "nas search": "every finished candidate is kept in the study and the one in progress is "
    "re-run first; run the same command again to continue the search",
    "bench": "nothing was written; run it again to measure",
    "eval": "nothing was written; run it again to evaluate",
    "predict": "nothing was written",
}


def message_line(err: BaseException) -> str:
    """``err``'s message as one line: the last line of a traceback carried in a message (a data
    loader worker's), otherwise the message with its line breaks folded."""
    text = str(err)
    if "Traceback" in text:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        text = lines[-1] if lines else text
    return " ".join(text.split()) or type(err).__name__


def os_error_line(err: OSError) -> str:
    """``file: cause`` of an ``OSError``; a full disk says so."""
    cause = (
        "no space left on the device"
        if err.errno == errno.ENOSPC
        else (err.strerror or message_line(err))
    )
    names = [n for n in (err.filename, err.filename2) if n is not None]
    where = " -> ".join(os.fsdecode(n) if isinstance(n, bytes) else str(n) for n in names)
    return f"{where}: {cause}" if where else cause


# what torch's allocators say when an allocation fails (CPU; CUDA's is torch.OutOfMemoryError)
OUT_OF_MEMORY = re.compile(r"can't allocate memory|out of memory|you tried to allocate (\d+) bytes")


def out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is a failed allocation (Python's or torch's)."""
    return isinstance(err, MemoryError) or bool(OUT_OF_MEMORY.search(str(err)))


def memory_asked(err: BaseException) -> str:
    """``"160 GB asked for"`` when torch says how much it tried to allocate, else ``"out of
    memory"``."""
    match = re.search(r"tried to allocate (\d+) bytes", str(err))
    return f"{int(match.group(1)) / 1e9:,.1f} GB asked for" if match else "out of memory"


def stop_line(command: str, stop: Interrupted) -> str:
    """The line of a command stopped by a signal: what happened and what was kept."""
    kept = KEPT.get(command, "run it again")
    return f"cnnzoo {command}: {stop}; {kept}"


def run_command(command: str, call: Callable[[], int]) -> int:
    """Run one command's handler inside the boundary: SIGINT and SIGTERM raise
    :class:`~cnnzoo.interrupt.Interrupted` in it (see :mod:`cnnzoo.interrupt`), and what reaches
    the top is printed as one line.

    Args:
        command: the command's name (``report``, ``nas search``), the start of every line.
        call: the handler.

    Returns:
        The exit code (see the module docstring).
    """
    try:
        try:
            with catch_stop_signals():
                return call()
        except KeyboardInterrupt:  # a Ctrl-C outside the handlers (a library's own)
            raise stopped(signal.SIGINT) from None
        except Exception as err:  # a stop a library caught and wrapped (an extension's import)
            stop = stop_in_chain(err)
            if stop is None:
                raise
            raise stop from None
    except Interrupted as stop:
        print(stop_line(command, stop), file=sys.stderr, flush=True)
        return stop.exit_code
    except BrokenPipeError:  # the reader of our output went away (| head): nothing to say
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), sys.stdout.fileno())
        return 0
    except (MemoryError, RuntimeError) as err:
        if not out_of_memory(err):
            raise
        print(
            f"cnnzoo {command}: error: not enough memory for this input on this machine "
            f"({memory_asked(err)}); use a smaller input or batch",
            file=sys.stderr,
        )
        return BAD_INPUT
    except OSError as err:  # with no errno: a file that cannot be decoded (gzip's, PIL's)
        print(f"cnnzoo {command}: error: {os_error_line(err)}", file=sys.stderr)
        return SYSTEM if err.errno is not None else BAD_INPUT
    except DECODE_ERRORS as err:
        print(f"cnnzoo {command}: error: {message_line(err)}", file=sys.stderr)
        return BAD_INPUT
