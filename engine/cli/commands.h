/* commands.h: the subcommands of the `cutpaste` command line.
 *
 * Each takes the arguments after its name (argv[0] is the command name) and
 * returns the process exit status: 0 on success, 1 on failure (message on
 * stderr), 2 on a usage error.
 */
#pragma once

int cp_cmd_synth   (int argc, char **argv);
int cp_cmd_train   (int argc, char **argv);
int cp_cmd_eval    (int argc, char **argv);
int cp_cmd_predict (int argc, char **argv);
int cp_cmd_serve   (int argc, char **argv);
int cp_cmd_threshold (int argc, char **argv);
int cp_cmd_bench   (int argc, char **argv);
int cp_cmd_export     (int argc, char **argv);
int cp_cmd_bench_onnx (int argc, char **argv);
int cp_cmd_weights    (int argc, char **argv);
int cp_cmd_refit      (int argc, char **argv);
int cp_cmd_watch      (int argc, char **argv);
int cp_cmd_report     (int argc, char **argv);
