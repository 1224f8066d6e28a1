/* The frames the launcher writes to its stdout, one per line; the launcher
 * (C) writes them, frame_parser.cc (C++) reads them:
 *
 *   @ce1 o <b64>               a chunk of the program's stdout
 *   @ce1 e <b64>               a chunk of the program's stderr
 *   @ce1 f <b64 path> <b64>    an output file (new or changed in the workspace)
 *   @ce1 t                     some output files were left out (caps)
 *   @ce1 x <code>              exit code (signal N -> 128+N); always the last
 *   @ce1 x <code> end          the same, in session mode: the session ended
 *                              with this cell (its kernel exited)
 *
 * Base64 is standard with padding. Program output only ever appears
 * base64-encoded, so a program cannot forge frames. */
#ifndef CODEEXEC_SERVER_LAUNCHER_FRAME_FORMAT_H_
#define CODEEXEC_SERVER_LAUNCHER_FRAME_FORMAT_H_

#define CE_FRAME_PREFIX "@ce1 "
#define CE_FRAME_STDOUT 'o'
#define CE_FRAME_STDERR 'e'
#define CE_FRAME_FILE 'f'
#define CE_FRAME_TRUNCATED 't'
#define CE_FRAME_EXIT 'x'
#define CE_FRAME_SESSION_END "end"

/* Raw bytes per o/e frame: a frame line stays under ~4.1 KB. */
#define CE_FRAME_CHUNK_BYTES 3072

#endif /* CODEEXEC_SERVER_LAUNCHER_FRAME_FORMAT_H_ */
