/* cli/cli.h: what the evchain command's subcommands share. Each subcommand lives in its own
 * file src/cli/cmd_<name>.c and defines `int cmd_<name>(int argc, char **argv)` (argv[0] is
 * the subcommand name) and `const char help_<name>[]`. main.c finds them through weak
 * symbols, so a subcommand is added without editing main.c. The command is a thin client of
 * the public API: it includes only <evchain/...> headers and this one. */
#ifndef EVCHAIN_CLI_H
#define EVCHAIN_CLI_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <evchain/evchain.h>

/* Exit codes every subcommand uses. */
/* EXIT_UNDELIVERED: a message was accepted and not delivered. `run`, `recover`, `resume`: one
 * from outside (ec_runtime_dropped_external) was dropped: given on the command line or in a
 * manifest, or, when serving, sent with `evchain send` (docs/ABI.md sections 2, 5 and 7).
 * `verify --links`: the chains are intact and their links resolve, but a message a sender's
 * chain says was accepted is neither delivered nor dropped in its receiver's chain
 * (unaccounted). */
enum { EXIT_VALID = 0, EXIT_INVALID = 1, EXIT_UNUSABLE = 2, EXIT_UNDELIVERED = 3 };

/* Print "evchain <cmd>: <message>" (plus the last library error when lib_err) to stderr.
 * The arguments and the library's message (which may quote a file's content) go through
 * cli_put_msg: control characters, bidirectional controls and invalid UTF-8 as \xNN. */
void cli_error(const char *cmd, int lib_err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Map a library error code to an exit code: EC_EVERIFY -> 1, everything else -> 2. */
int cli_exit_code(int err);
/* Parse a u64 in decimal: digits only (no sign, space or prefix); 0 on success. (parse.c) */
int cli_parse_u64(const char *s, uint64_t *out);
/* --max-queue N (run, recover, resume: the runtime's max_queue, messages and timers waiting):
 * 1..4294967295; 0 on success. (parse.c) */
int cli_parse_max_queue(const char *v, uint32_t *out);
#define CLI_MAX_QUEUE_ERR "--max-queue: '%s' is not 1..4294967295 (messages and timers waiting)"
/* "ADDR:PORT" or "[v6]:PORT" into addr (brackets removed) and port; 0 or -1. (parse.c) */
int cli_parse_listen(const char *v, char *addr, size_t cap, unsigned *port);
/* ---- option parsing (parse.c), the same for every command ----
 * A command's loop over argv tries its options (cli_opt, cli_opt_each, cli_flag) on argv[i],
 * then asks cli_arg_kind what an argument none matched is. "--" ends the options: after it
 * the helpers match nothing and every argument is an operand ("-x" a file named -x).
 * Once *bad is set the helpers match nothing either: the loop's `bad` branch must come
 * before its unknown-option and operand branches. */
/* If argv[*i] is `name` (takes a value) returns the value and advances *i; supports
 * `--name=value` too. NULL when argv[*i] is another option. On a missing value, or when
 * the option was given before (a single-valued option: "option X given twice"; -o and
 * --output are one option), prints an error and sets *bad. */
const char *cli_opt(int argc, char **argv, int *i, const char *name, int *bad);
/* The same for an option documented as repeatable (--vkey, --message, --env...). */
const char *cli_opt_each(int argc, char **argv, int *i, const char *name, int *bad);
/* argv[i] is the flag `name` (no value), before any "--". */
int cli_flag(char **argv, int i, const char *name);
/* What argv[i], which matched none of the command's options, is. */
enum {
    CLI_OPERAND = 0, /* an operand: "-" alone, not starting with '-', or after "--" */
    CLI_END,         /* the "--" ending the options: skip it */
    CLI_UNKNOWN
}; /* an option the command does not have */
int cli_arg_kind(char **argv, int i);
/* The operands of a command that has no options (show, diff): up to max into ops. Returns
 * how many were given (max + 1 when more were), or -1 after saying which option `cmd` does
 * not have. */
int cli_operands(const char *cmd, int argc, char **argv, const char **ops, int max);
/* Standard input ('-') as the input `what` (e.g. "--since"): 0, or -1 (printed) when '-'
 * was already given for another input, which read it all. Called while parsing, before
 * anything is read or done; paths other than "-" always pass. */
int cli_input(const char *cmd, const char *what, const char *path);
/* What cli_input last accepted '-' for (e.g. "--event"), NULL when none: an error about
 * standard input names the option it was given for. */
const char *cli_stdin_what(void);

/* Progress bar on stderr when stderr is a terminal; silent otherwise. */
typedef struct cli_progress {
    int enabled;
    const char *label;
    uint64_t start_ns, last_ns;
} cli_progress;
void cli_progress_init(cli_progress *p, const char *label);
void cli_progress_cb(uint64_t done, uint64_t total, void *ctx); /* ctx: cli_progress* */
void cli_progress_done(cli_progress *p);

/* Print one event in full, each line prefixed by indent: seq, hash, parent, time, type,
 * description, and data (decoded JSON for actor payloads, text when it is UTF-8, else a hex
 * dump). Defined in event_print.c. */
void cli_print_event(FILE *out, const ec_event *ev, const char *indent);
/* Byte for byte the same record: every field, the parent hash and the hash. */
int cli_events_equal(const ec_event *a, const ec_event *b);
/* ISO-8601 UTC with nanoseconds ("2026-11-26T06:22:41.123456789Z") into buf (>= 40 bytes). */
void cli_format_time(char *buf, size_t n, uint64_t ns);
/* Decode an event's data to one line of JSON when its type has a specified payload (actor
 * events): 0 and *json_out (malloc'd) set, or non-zero when it has none. */
int cli_payload_json(const ec_event *ev, char **json_out);

/* ---- printing bytes the command does not control (clean.c) ---- */
/* The UTF-8 sequence at p: its length (1..4) with the code point in *cp, or 0 when the
 * bytes there are not valid UTF-8 (stray or truncated, overlong, a surrogate, > U+10FFFF). */
size_t cli_utf8_next(const uint8_t *p, size_t n, uint32_t *cp);
int cli_utf8_valid(const uint8_t *s, size_t n);
/* Characters a terminal acts on or that change how the text around them reads instead of
 * being shown: C0 controls (newline and tab included), DEL, C1 controls (U+0080..U+009F:
 * CSI, OSC, NEL...), the bidirectional controls (U+061C, U+200E, U+200F, U+202A..U+202E,
 * U+2066..U+2069) and the line and paragraph separators U+2028, U+2029. */
int cli_cp_unsafe(uint32_t cp);
/* Bytes with every unsafe character and every byte of invalid UTF-8 as \xNN and a backslash
 * as \\, so a hostile type or description cannot drive the terminal, fake extra lines or
 * reorder the line; other UTF-8 as it is. */
void cli_put_clean(FILE *out, const char *s, size_t n);
/* A message (a library error, a file name): escaped as cli_put_clean, but a backslash is
 * left as it is. */
void cli_put_msg(FILE *out, const char *s);
/* One line of JSON (from a JSON writer): unsafe characters, which can only stand inside
 * strings there, as \uXXXX (the same JSON), invalid UTF-8 bytes as \xNN. */
void cli_put_json_clean(FILE *out, const char *s, size_t n);
/* printf to out where the format's text is printed as it is and every converted argument
 * through cli_put_msg: the way every message that may quote input reaches stderr. */
void cli_vprint_msg(FILE *out, const char *fmt, va_list ap);
void cli_printf_msg(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
