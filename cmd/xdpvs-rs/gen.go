package main

//go:generate go tool bpf2go -tags linux -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel,bpfeb -type toa_key -type toa_val -type dir4_key -type dir6_key rs bpf/rs.c -- -I./bpf
