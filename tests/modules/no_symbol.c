/* A shared object that is not a chatd module: no chatd_module_info. */
int not_a_module(void);
int not_a_module(void)
{
    return 42;
}
