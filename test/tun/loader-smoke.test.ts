import t from 'tap';
t.pass('loader works');
