# Turns a binary file (IN) into a C source (OUT) defining gs_descriptor_set[] and its length.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){24})" "\\1\n" body "${body}")
file(WRITE ${OUT} "/* generated from the protoc descriptor set: do not edit */\n#include <stddef.h>\nconst unsigned char gs_descriptor_set[] = {\n${body}\n};\nconst size_t gs_descriptor_set_len = ${len};\n")
